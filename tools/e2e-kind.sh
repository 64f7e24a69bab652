#!/usr/bin/env bash
# make e2e-kind: the product on a real Kubernetes cluster (kind).
#
#   1. create a kind cluster (single node, its own kubeconfig: yours is left alone)
#   2. build the image and load it into the cluster, and the auto-heal tests' stand-in
#      images (tests/test_operator/standins/sickroom: one image per mode)
#   3. apply the CRDs and install the chart, wait for the operator, run `helm test`
#   4. run the operator's integration tests against the cluster (--cluster=kubeconfig)
#   5. on failure dump nodes, Pods, GameRooms, Events, operator logs and kind's logs
#   6. delete the cluster (unless --keep)
#
# Needs docker, kind, helm and kubectl on PATH, and the project's .venv (make venv).
# The integration tests run their own operator on this machine, which talks to the rooms'
# pod IPs: on Linux the script routes kind's pod network through the node container
# (`ip route`, needs root or sudo); elsewhere run the tests from inside the cluster.
#
# Usage: tools/e2e-kind.sh [--dry-run] [--keep] [-- PYTEST_ARGS...]
#   --dry-run  print every command instead of running it (no tool needed)
#   --keep     keep the cluster afterwards (its kubeconfig path is printed)
# Environment: KIND_CLUSTER (gameroom-e2e), IMAGE (ghcr.io/drawgame/gameroom:<version>),
#   ARTIFACTS (test-artifacts/e2e-kind), PYTHON (.venv/bin/python), POD_SUBNET (10.244.0.0/16),
#   SICKROOM_IMAGE (drawgame.test/sickroom: the stand-in's repository, tagged with each mode;
#   the tests read the same variable), SICKROOM_MODES (the modes to build, space-separated).
set -euo pipefail

cd "$(dirname "$0")/.."

dry_run=0
keep=0
pytest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --keep) keep=1 ;;
    --) shift; pytest_args=("$@"); break ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "e2e-kind: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)
cluster=${KIND_CLUSTER:-gameroom-e2e}
image=${IMAGE:-ghcr.io/drawgame/gameroom:${version}}
artifacts=${ARTIFACTS:-test-artifacts/e2e-kind}
python=${PYTHON:-.venv/bin/python}
pod_subnet=${POD_SUBNET:-10.244.0.0/16}
sickroom_image=${SICKROOM_IMAGE:-drawgame.test/sickroom}
# Every mode tests/test_operator/standins/sickroom/gameserver/__main__.py knows (healthy.2:
# the healthy mode under a second tag, a new revision for the rollout tests).
sickroom_modes=${SICKROOM_MODES:-healthy healthy.2 hangs ws-fails slow sick-once db-fails deaf crash never-ready}
release=gameroom
operator_namespace=gameroom-system
# The chart's operator serves only this namespace (its helm test room): the integration
# tests start an operator of their own for each test namespace, and two operators must
# never reconcile the same rooms.
helm_test_namespace=gameroom-helm-test
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/gameroom-e2e-kind.XXXXXX")
kubeconfig="$state_dir/kubeconfig"
node_ip=""
routed=0

# Print a command as a shell would read it, then run it (unless --dry-run).
run() {
  printf '+'
  printf ' %q' "$@"
  printf '\n'
  if [ "$dry_run" = 0 ]; then
    "$@"
  fi
}

as_root() {
  if [ "$(id -u)" = 0 ]; then
    run "$@"
  else
    run sudo "$@"
  fi
}

need() {
  local missing=()
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "e2e-kind: missing on PATH: ${missing[*]} (try --dry-run to see the commands)" >&2
    exit 1
  fi
}

dump() {
  echo "==> e2e-kind failed: dumping the cluster's state to $artifacts" >&2
  run mkdir -p "$artifacts"
  local k=(kubectl --kubeconfig "$kubeconfig")
  local out
  for what in nodes "pods -A -o wide" "gamerooms -A -o wide" "deployments,services,pvc -A"; do
    out="$artifacts/$(echo "$what" | cut -d' ' -f1 | tr ',' '-').txt"
    # shellcheck disable=SC2086 # one word per kubectl argument
    run "${k[@]}" get $what >"$out" 2>&1 || true
  done
  run "${k[@]}" get events -A --sort-by=.lastTimestamp >"$artifacts/events.txt" 2>&1 || true
  run "${k[@]}" -n "$operator_namespace" logs "deployment/$release-gameroom-operator" \
    --all-containers --timestamps >"$artifacts/operator.log" 2>&1 || true
  run kind export logs "$artifacts/kind-logs" --name "$cluster" || true
}

cleanup() {
  local status=$?
  set +e
  if [ "$status" != 0 ]; then
    dump
  fi
  if [ "$routed" = 1 ]; then
    as_root ip route del "$pod_subnet" via "$node_ip"
  fi
  if [ "$keep" = 1 ]; then
    echo "==> kept the cluster $cluster: export KUBECONFIG=$kubeconfig"
  else
    run kind delete cluster --name "$cluster"
    rm -rf "$state_dir"
  fi
  exit "$status"
}

if [ "$dry_run" = 0 ]; then
  need docker kind helm kubectl
  [ -x "$python" ] || { echo "e2e-kind: $python is missing: run make venv" >&2; exit 1; }
fi

echo "==> kind cluster $cluster, image $image"
run kind create cluster --name "$cluster" --kubeconfig "$kubeconfig" --wait 180s
trap cleanup EXIT

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
run docker build --tag "$image" --build-arg "VERSION=$version" \
  --build-arg "REVISION=$revision" --build-arg "CREATED=$created" .
run kind load docker-image "$image" --name "$cluster"

echo "==> the auto-heal tests' stand-in room, one image per mode ($sickroom_image:<mode>)"
for mode in $sickroom_modes; do
  run docker build --tag "$sickroom_image:$mode" --build-arg "MODE=$mode" \
    tests/test_operator/standins/sickroom
  run kind load docker-image "$sickroom_image:$mode" --name "$cluster"
done

echo "==> CRDs and the chart"
run kubectl --kubeconfig "$kubeconfig" apply --server-side -f charts/gameroom-operator/crds/
run kubectl --kubeconfig "$kubeconfig" create namespace "$helm_test_namespace"
run helm install "$release" charts/gameroom-operator --kubeconfig "$kubeconfig" \
  --namespace "$operator_namespace" --create-namespace \
  --set "image.repository=${image%:*}" --set "image.tag=${image##*:}" \
  --set image.pullPolicy=Never \
  --set "watchNamespaces={$helm_test_namespace}" \
  --wait --timeout 5m
run kubectl --kubeconfig "$kubeconfig" -n "$operator_namespace" \
  rollout status "deployment/$release-gameroom-operator" --timeout=3m
run helm test "$release" --kubeconfig "$kubeconfig" --namespace "$operator_namespace" \
  --timeout 5m --logs

if [ "$(uname -s)" = Linux ]; then
  echo "==> routing the pod network ($pod_subnet) through the node, for the tests' operator"
  if [ "$dry_run" = 0 ]; then
    node_ip=$(docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
      "$cluster-control-plane")
  else
    node_ip=NODE_IP
    run docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
      "$cluster-control-plane"
  fi
  as_root ip route replace "$pod_subnet" via "$node_ip"
  routed=1
fi

echo "==> the operator's integration tests against the cluster"
run env "KUBECONFIG=$kubeconfig" "SICKROOM_IMAGE=$sickroom_image" "$python" -m pytest tests/test_operator \
  --cluster=kubeconfig -q "${pytest_args[@]}"

echo "==> e2e-kind passed"
