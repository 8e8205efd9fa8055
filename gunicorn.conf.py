"""gunicorn's settings for the webhook receiver: a plain `gunicorn webhook_app.wsgi:app` run here reads them.

Binds WEB_ADDRESS (127.0.0.1 unless configured) : WEB_PORT; gevent workers, so slow clients
cannot hold the receiver (webhook_app.serving); secrets masked in the access and error logs.
Outside sandbox mode it refuses to start with a short or published webhook secret or admin token.
"""
import sys

from models.settings import ConfigError, check_receiver, get_settings
from webhook_app.serving import cooperative_psycopg, gunicorn_settings, install_log_masking

try:
    _settings = get_settings()
    check_receiver(_settings)
except ConfigError as _e:
    sys.exit(f"zohosync: {_e}")

globals().update(gunicorn_settings(_settings))
install_log_masking(_settings)


def post_fork(server, worker):
    if server.cfg.worker_class_str == "gevent":  # a command line may choose another worker class
        cooperative_psycopg()
