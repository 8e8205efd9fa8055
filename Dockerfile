# syntax=docker/dockerfile:1.7
# zohosync: one production image for every process of the stack (receiver, workers, beat, Flower,
# watchdog, migrations); docker-compose.yml picks the command from the Procfile's. Targets:
#   production (the default, last): the deployable set only — no zoho_sandbox, no tests, no bench
#   dev: production plus the zoho_sandbox package, for compose's `sandbox` service
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    ZOHOSYNC_LOG_FORMAT=json

WORKDIR /app

# Dependencies first, pinned (with hashes) by requirements.lock, in a layer that changes only with it.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

# The source tree without what production never runs (.dockerignore drops tests, bench, .git …).
FROM base AS source
COPY . /src
RUN rm -rf /src/zoho_sandbox /src/requirements-dev.lock

FROM base AS app
# PYTHONPATH=/app keeps the source tree (with its Flask templates and Alembic's script template,
# which the wheel does not carry) the code that runs; the install adds the `zohosync` command.
COPY --from=source /src /app
RUN pip install --no-deps . \
 && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin zohosync \
 && mkdir -p /data /app/var/images /app/.run \
 && chown -R zohosync:zohosync /data /app/var /app/.run \
 && chmod 0700 /app/.run

# Sandbox mode (no Zoho credentials): models.settings makes random secrets in /app/.run (a volume
# shared by the services) and points the API hosts at ZOHOSYNC_SANDBOX_URL. With credentials the
# sandbox service exits at once.
COPY --chmod=0755 <<'EOF' /usr/local/bin/zohosync-entrypoint
#!/bin/sh
set -eu
if [ -n "${ZOHO_CLIENT_ID:-}" ] && [ "${1:-}" = zohosync ] && [ "${2:-}" = sandbox ]; then
    echo "Zoho credentials are configured: the sandbox is not needed; exiting." >&2
    exit 0
fi
# Flower reads FLOWER_BASIC_AUTH itself, and an empty value would refuse every login.
[ -n "${FLOWER_BASIC_AUTH:-}" ] || unset FLOWER_BASIC_AUTH
exec "$@"
EOF

USER zohosync
EXPOSE 8000 5555 8765
ENTRYPOINT ["zohosync-entrypoint"]
# gunicorn.conf.py sets the rest; in a container the receiver listens on its interface (publish with care)
ENV WEB_ADDRESS=0.0.0.0
CMD ["gunicorn", "webhook_app.wsgi:app"]

# The Zoho sandbox, for development and demos only (compose's `sandbox` service).
FROM app AS dev
COPY --chown=zohosync:zohosync zoho_sandbox /app/zoho_sandbox

FROM app AS production
