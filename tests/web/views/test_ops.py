"""Operational endpoints."""
import json


def test_metrics_for_trusted_addresses_only(testapp, root):
    testapp.put(f"{root}/storage/c/a", '{"payload": "x"}')
    res = testapp.get("/__metrics__", extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    assert res.content_type.startswith("text/plain")
    for name in ("syncstorage_sql_statements_total", "syncstorage_sql_seconds_bucket",
                 "syncstorage_db_connections_in_use", "syncstorage_db_connections_max",
                 "syncstorage_request_seconds_bucket", "syncstorage_requests_total"):
        assert name in res.text, name
    testapp.get("/__metrics__", extra_environ={"REMOTE_ADDR": "192.0.2.7"}, status=404)
    testapp.get("/__metrics__", status=404)  # no address at all


def test_sql_statements_are_counted(testapp, root):
    def statements():
        text = testapp.get("/__metrics__", extra_environ={"REMOTE_ADDR": "::1"}).text
        return sum(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith("syncstorage_sql_statements_total"))
    before = statements()
    testapp.post(f"{root}/storage/c", json.dumps([{"id": "a", "payload": "x"}]))
    assert statements() > before
