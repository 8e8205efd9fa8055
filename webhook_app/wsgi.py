"""WSGI entry point: `gunicorn webhook_app.wsgi:app` (gunicorn.conf.py beside the checkout sets how it is served).

Outside sandbox mode a guessable webhook secret or admin token stops the receiver here,
whatever server imports it.
"""
from models.settings import check_receiver, get_settings
from webhook_app import create_app

check_receiver(get_settings())
app = create_app()
