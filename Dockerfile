# syntax=docker/dockerfile:1
# One image, two entrypoints:
#   gameserver serve ...   / python -m gameserver serve ...    (a game room; the operator's
#                                                                Deployments run this)
#   gameroom-operator ...  / python -m gameroom_operator ...   (the operator; the Helm chart
#                                                                charts/gameroom-operator runs this)
# Non-root (UID/GID 10001), and nothing is written outside the volumes the Pods mount
# (/data, /tmp): it runs with a read-only root filesystem.
#
#   docker build -t ghcr.io/drawgame/gameroom:0.1.0 .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: wheels of the product and its dependencies --------------------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# The product only: the game server and the operator (kubesandbox, tests and the demo's
# sandbox are development tools and stay out of the image).
COPY pyproject.toml README.md ./
COPY gameserver ./gameserver
COPY operator ./operator
RUN pip wheel --wheel-dir /wheels '.[operator,s3]'

# ---- runtime ----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="gameroom" \
      org.opencontainers.image.description="GameRoom operator and game server: a multiplayer drawing-and-guessing game run as Kubernetes GameRoom resources" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/drawgame/gameroom-operator" \
      org.opencontainers.image.url="https://github.com/drawgame/gameroom-operator" \
      org.opencontainers.image.vendor="drawgame"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN groupadd --gid 10001 gameroom \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin gameroom
# Installed from the build stage's wheels only (no index), bytecode compiled now, so that
# nothing needs to be written under site-packages at run time.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels --compile "gameroom-operator[operator,s3]==${VERSION}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    GAMESERVER_VERSION=${VERSION} \
    GAMESERVER_LOG_FORMAT=json \
    GAMEROOM_OPERATOR_LOG_FORMAT=json
USER 10001:10001
WORKDIR /data
# 8080 game (web client, WebSocket, /metrics), 8081 admin API, 8090 operator /healthz and /metrics.
EXPOSE 8080 8081 8090
CMD ["gameserver", "serve"]
