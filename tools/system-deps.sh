#!/bin/sh
# Installs the Debian packages the test suite drives for real, when they are missing:
#   chromium  the browser of the web-client tests (Playwright drives it)
# Usage: tools/system-deps.sh COMMAND=PACKAGE...  (e.g. chromium=chromium)
# As root on a machine with apt-get it installs what is missing; anywhere else it names
# what is missing on one line and fails, so `make test` never half-runs.
set -eu

missing=""
for pair in "$@"; do
  command_name=${pair%%=*}
  package=${pair#*=}
  command -v "$command_name" >/dev/null 2>&1 || missing="$missing $package"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing Debian packages the tests need:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y -qq $missing >/dev/null
  exit 0
fi

echo "make: missing Debian packages:$missing (install them as root with: apt-get install$missing; or run make test-fast, which needs no browser)" >&2
exit 1
