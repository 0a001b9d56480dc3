"""The WSGI entry point gunicorn loads in each worker (ops/gunicorn_conf.py).

Importing it builds the application from ``SYNCSTORAGE_CONFIG`` (an ini file,
optional) and ``SYNCSTORAGE_*`` variables.  Every worker does so when it starts,
so the workers a HUP starts run the edited configuration and the new code.
"""
import os

from syncstorage.infra.config import load_settings
from syncstorage.infra.logs import configure_logging
from syncstorage.web.app import make_app

configure_logging()
application = make_app(load_settings(os.environ.get("SYNCSTORAGE_CONFIG") or None))
