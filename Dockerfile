# One image, two entrypoints:
#   python -m gameserver serve ...      (a game room; the operator's Deployments run this)
#   python -m gameroom_operator ...     (the operator; the Helm chart runs this)
# Built for a read-only root filesystem and a non-root user (UID 10001).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gameserver ./gameserver
COPY kubesandbox ./kubesandbox
COPY operator ./operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[operator]'

FROM python:3.11-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="gameroom" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/drawgame/gameroom-operator"
RUN groupadd --gid 10001 gameroom \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin gameroom
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'gameroom-operator[operator]' \
 && rm -rf /wheels
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GAMESERVER_VERSION=${VERSION} \
    GAMESERVER_LOG_FORMAT=json
USER 10001:10001
WORKDIR /data
EXPOSE 8080 8081
CMD ["python", "-m", "gameserver", "serve"]
