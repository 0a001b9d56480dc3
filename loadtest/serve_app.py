"""WSGI entry for benchmarks: the app built from SYNCSTORAGE_* environment variables."""
from syncstorage.web.app import make_app
from syncstorage.infra.logs import configure_logging

configure_logging()
application = make_app()
