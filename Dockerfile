# syntax=docker/dockerfile:1.7
# zohosync: one image for every process of the stack (receiver, workers, beat, Flower,
# migrations, Zoho sandbox); docker-compose.yml picks the command. See CONTRACT §1.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    ZOHOSYNC_LOG_FORMAT=json

WORKDIR /app

# Dependencies first, in a layer that changes only when pyproject.toml does.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The project itself. PYTHONPATH=/app keeps the source tree (with its Flask templates and
# Alembic's script template, which the wheel does not carry) the code that runs; the
# install adds the `zohosync` command.
COPY . .
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
