"""Operator node state (spec §3.14): parsing, storage, and its effect on every request."""
import subprocess
import sys

import pytest
import webtest

from syncstorage.web.app import make_app
from syncstorage.infra.config import load_settings
from syncstorage.gate.nodestatus import Effect, parse, validate


@pytest.mark.parametrize("value,effect", [
    ("down", Effect(refuse="server issue: database marked as down")), ("draining", Effect(refuse="node reassignment")),
    ("unhealthy", Effect(refuse="database is not healthy")), ("backoff", Effect(backoff=1800)),
    ("backoff:120", Effect(backoff=120)), ("BACKOFF:7", Effect(backoff=7)), ("backoff:x", Effect()),
    ("ok", Effect()), ("", Effect()), (None, Effect()), ("something else", Effect()),
])
def test_parse(value, effect):
    assert parse(value, 1800) == effect


def test_validate():
    assert validate(" Down ") == "down" and validate("backoff:30") == "backoff:30"
    for bad in ("maybe", "down:5", "backoff:-1", "backoff:x"):
        with pytest.raises(ValueError):
            validate(bad)


@pytest.fixture
def node(tmp_path, configuration):
    """Two workers of one node with its own database (the state is node-wide)."""
    _url, servers = configuration
    settings = load_settings(overrides={"storage.sqluri": f"sqlite:///{tmp_path / 'node.db'}",
                                        "cache.servers": ",".join(servers), "node.status_refresh": 0,
                                        "storage.retry_after": 900}, environ={})
    return webtest.TestApp(make_app(settings)), webtest.TestApp(make_app(settings)), settings


@pytest.mark.parametrize("state,body", [("down", "server issue: database marked as down"),
                                        ("draining", "node reassignment"), ("unhealthy", "database is not healthy")])
def test_refusing_states_answer_every_request_with_503(node, state, body):
    first, second, _settings = node
    first.app.services.node_status.set(state)
    for path in ("/1.1/someone/info/collections", "/__heartbeat__", "/user/1.0/someone", "/nowhere"):
        res = second.get(path, status=503)
        assert res.text == body and res.content_type == "text/plain"
        assert res.headers["Retry-After"] == "900" and res.headers["X-Weave-Backoff"] == "900"
    second.get("/__metrics__", extra_environ={"REMOTE_ADDR": "127.0.0.1"})  # operators still see
    first.app.services.node_status.set("ok")
    assert second.get("/user/1.0/someone").text == "0"


def test_backoff_serves_and_asks_clients_to_slow_down(node):
    first, second, _settings = node
    first.app.services.node_status.set("backoff:120")
    res = second.get("/user/1.0/someone")
    assert res.text == "0" and res.headers["X-Weave-Backoff"] == "120"
    first.app.services.node_status.set("backoff")
    assert second.get("/__heartbeat__").headers["X-Weave-Backoff"] == "900"
    first.app.services.node_status.set("ok")
    assert "X-Weave-Backoff" not in second.get("/__heartbeat__").headers


def test_a_worker_keeps_the_state_for_the_refresh_period(tmp_path):
    clock = [0.0]
    settings = load_settings(overrides={"storage.sqluri": f"sqlite:///{tmp_path / 'n.db'}",
                                        "node.status_refresh": 5}, environ={})
    worker, operator = make_app(settings), make_app(settings)
    worker.services.node_status.clock = lambda: clock[0]
    assert worker.services.node_status.get() == ""
    operator.services.node_status.set("down")
    clock[0] = 4.9
    assert worker.services.node_status.get() == ""
    clock[0] = 5.0
    assert worker.services.node_status.get() == "down"


@pytest.mark.services  # the command line in a subprocess
def test_cli(tmp_path):
    config = tmp_path / "n.ini"
    config.write_text(f"[storage]\nsqluri = sqlite:///{tmp_path / 'n.db'}\n")

    def run(*args):
        return subprocess.run([sys.executable, "-m", "syncstorage.ops.cli", "--config", str(config), "node-status", *args],
                              capture_output=True, text=True, timeout=60)
    assert run("get").stdout.strip() == "ok"
    result = run("set", "backoff:60")
    assert result.returncode == 0 and "X-Weave-Backoff: 60" in result.stdout
    assert run("get").stdout.strip() == "backoff:60"
    assert run("set", "sideways").returncode != 0
    assert run("get").stdout.strip() == "backoff:60"
