"""WSGI entry for benchmarks: the app built from SYNCSTORAGE_* environment variables."""
from syncstorage.app import make_app
from syncstorage.logs import configure_logging

configure_logging()
application = make_app()
