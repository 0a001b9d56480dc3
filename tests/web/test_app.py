"""Application assembly: embedded auto-migration and routing table sanity."""
import webtest

from syncstorage.web.app import make_app
from syncstorage.web.routes import ROUTES
from syncstorage.infra.config import load_settings


def test_embedded_sqlite_migrates_on_first_start(tmp_path):
    settings = load_settings(overrides={"storage.sqluri": f"sqlite:///{tmp_path / 'fresh' / 'db.sqlite'}"},
                             environ={})
    app = webtest.TestApp(make_app(settings))
    assert app.get("/__heartbeat__").status_int == 200
    assert app.get("/user/1.0/nobody").text == "0"
    make_app(settings)  # a second worker starting later finds it migrated


def test_every_route_has_handlers_and_a_unique_name():
    names = [name for name, _path, _role, _methods in ROUTES]
    assert len(names) == len(set(names))
    assert all(methods and all(callable(h) for h in methods.values()) for _n, _p, _r, methods in ROUTES)


def test_cache_namespaces_follow_the_database_and_hide_passwords():
    from syncstorage.services.root import cache_client, coherent_cache

    settings = load_settings(overrides={"cache.servers": "127.0.0.1:1"}, environ={})
    client = cache_client(settings)
    first = coherent_cache(settings, client, "mysql+pymysql://u:secret@db1/sync")
    same = coherent_cache(settings, client, "mysql+pymysql://u:other-secret@db1/sync")
    other = coherent_cache(settings, client, "mysql+pymysql://u:secret@db2/sync")
    assert first.namespace == same.namespace != other.namespace
    assert cache_client(load_settings(environ={})) is None
