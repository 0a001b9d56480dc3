"""Admission control: the arithmetic, then real requests held by slow clients."""
import base64
import io
import json
import threading
import time

import pytest

from syncstorage.web.app import make_app
from syncstorage.infra.config import load_settings
from syncstorage.gate.overload import Admission, LoadSignals, _share

from ..conftest import PASSWORD, new_username, password_hash


def test_backoff_grows_with_pressure():
    admission = Admission(max_concurrent=8, soft_fraction=0.5, backoff_min=60, backoff_max=1860)
    assert [admission.backoff(n) for n in (1, 3, 4, 6, 8)] == [None, None, 60, 960, 1860]
    assert Admission(0).backoff(100) is None and Admission(0).enter()


def test_database_latency_pool_use_and_queue_time_raise_the_backoff():
    signals = LoadSignals()
    admission = Admission(max_concurrent=8, soft_fraction=0.75, backoff_min=60, backoff_max=1860,
                          db_latency_soft=0.1, queue_soft=0.25, signals=signals)
    assert admission.backoff(1) is None
    signals.db_latency = 0.25  # half-way from 0.1 to 0.4
    assert admission.backoff(1) == 960
    signals.db_latency = 0.0
    signals.pool_in_use, signals.pool_capacity = 7, 8  # 0.875: half-way from 0.75 to 1
    assert admission.backoff(1) == 960
    signals.pool_in_use = 0
    for _ in range(100):
        signals.observe_queue(2.0)  # far past the hard end (1 s)
    assert admission.backoff(1) == 1860
    assert Admission(0, signals=LoadSignals()).backoff(100) is None  # no bound and no pressure


def test_pressure_is_the_highest_share_whatever_the_thresholds():
    # pressure() answers "below every soft threshold" without building the shares; it must
    # agree with them everywhere, including on the thresholds themselves and with signals off.
    signals = LoadSignals()
    for max_concurrent in (0, 4):
        for soft in (0.0, 0.5, 0.75):
            for db_soft, queue_soft in ((0.0, 0.0), (0.1, 0.25)):
                admission = Admission(max_concurrent, soft_fraction=soft, db_latency_soft=db_soft,
                                      queue_soft=queue_soft, signals=signals)
                for in_use, capacity in ((0, 0), (0, 4), (2, 4), (3, 4), (4, 4)):
                    for latency in (0.0, 0.1, 0.25, 0.5):
                        for wait in (0.0, 0.25, 2.0):
                            for in_flight in (0, 2, 3, 4):
                                signals.pool_in_use, signals.pool_capacity = in_use, capacity
                                signals.db_latency, signals.queue_wait = latency, wait
                                shares = [_share(signals.pool_fraction, soft, 1.0),
                                          _share(latency, db_soft, 4 * db_soft),
                                          _share(wait, queue_soft, 4 * queue_soft)]
                                if max_concurrent > 0:
                                    shares.append(_share(in_flight / max_concurrent, soft, 1.0))
                                shares = [x for x in shares if x is not None]
                                assert admission.pressure(in_flight) == (max(shares) if shares else None)


def test_requests_that_waited_too_long_are_refused(node):
    app, name, auth = node(overload__max_queue_wait=5, overload__max_concurrent=0,
                           server__trusted_proxies="127.0.0.1/32")
    stale = f"t={time.time() - 30:.3f}"
    result = call(app, "GET", f"/1.1/{name}/info/collections", auth, headers={"HTTP_X_REQUEST_START": stale})
    assert result["status"] == 503 and result["headers"]["Retry-After"] == "30"
    fresh = f"t={time.time():.3f}"
    assert call(app, "GET", f"/1.1/{name}/info/collections", auth,
                headers={"HTTP_X_REQUEST_START": fresh})["status"] == 200
    assert call(app, "GET", "/__heartbeat__", headers={"HTTP_X_REQUEST_START": stale})["status"] == 200


def test_queue_time_is_believed_only_from_a_trusted_proxy(node):
    """A client claiming a long wait would otherwise be refused, or raise everyone's backoff."""
    app, name, auth = node(overload__max_queue_wait=5, overload__max_concurrent=0)  # no trusted proxies
    stale = f"t={time.time() - 30:.3f}"
    for _ in range(50):
        assert call(app, "GET", f"/1.1/{name}/info/collections", auth,
                    headers={"HTTP_X_REQUEST_START": stale})["status"] == 200
    assert app.services.admission.signals.queue_wait == 0


def test_engine_events_feed_latency_and_pool_use(tmp_path):
    from syncstorage.infra.dbengine import create_engine
    from syncstorage.infra.metrics import instrument_engine

    signals = LoadSignals()
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}", pool_size=3, max_overflow=1)
    instrument_engine(engine, signals)
    assert signals.pool_capacity == 4
    with engine.connect() as conn:
        assert signals.pool_in_use == 1 and signals.pool_fraction == 0.25
        conn.exec_driver_sql("SELECT 1")
    assert signals.pool_in_use == 0 and signals.db_latency > 0
    engine.dispose()


def test_enter_and_leave_bound_the_count():
    admission = Admission(max_concurrent=2)
    assert admission.enter() and admission.enter() and not admission.enter()
    assert admission.saturated
    admission.leave()
    assert not admission.saturated and admission.enter()


class SlowBody(io.RawIOBase):
    """A request body that arrives only when the test says so (a slow client)."""

    def __init__(self, data: bytes):
        self.data, self.arrived, self.waiting = data, threading.Event(), threading.Event()

    def read(self, size=-1):
        self.waiting.set()
        self.arrived.wait(30)
        chunk, self.data = (self.data, b"") if size is None or size < 0 else (self.data[:size], self.data[size:])
        return chunk

    def readable(self):
        return True


def call(app, method, path, auth=None, body=b"", stream=None, headers=None):
    environ = {**(headers or {}), "REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "node", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http", "REMOTE_ADDR": "127.0.0.1", "wsgi.input": stream or io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "text/plain"}
    if auth:
        environ["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(auth.encode()).decode()
    result = {}

    def start_response(status, headers, exc_info=None):
        result["status"], result["headers"] = int(status.split()[0]), dict(headers)
    result["body"] = b"".join(app(environ, start_response))
    return result


@pytest.fixture
def node(tmp_path):
    def build(**overrides):
        values = {"storage.sqluri": f"sqlite:///{tmp_path / 'node.db'}", "overload.shed_retry_after": 30}
        values.update({k.replace("__", "."): v for k, v in overrides.items()})
        app = make_app(load_settings(overrides=values, environ={}))
        name = new_username()
        app.services.userdb.create_user(name, None, password_hash())
        return app, name, f"{name}:{PASSWORD}"
    return build


def hold(app, name, auth):
    """Start a POST whose body has not arrived yet; returns (thread, body, result)."""
    payload = json.dumps([{"id": "slow", "payload": "x"}]).encode()
    body, result = SlowBody(payload), {}
    thread = threading.Thread(target=lambda: result.update(call(app, "POST", f"/1.1/{name}/storage/c", auth,
                                                               payload, stream=body)))
    thread.start()
    assert body.waiting.wait(10)  # admitted, authenticated, now reading its body
    return thread, body, result


def test_past_the_limit_requests_are_refused_at_once_and_health_is_never_shed(node):
    app, name, auth = node(overload__max_concurrent=1)
    thread, body, held = hold(app, name, auth)
    refused = call(app, "GET", f"/1.1/{name}/info/collections", auth)
    assert refused["status"] == 503
    assert refused["headers"]["Retry-After"] == "30" and refused["headers"]["X-Weave-Backoff"] == "30"
    assert call(app, "GET", "/__lbheartbeat__")["status"] == 503  # take this worker out of rotation
    assert call(app, "GET", "/__heartbeat__")["status"] == 200
    assert call(app, "GET", "/__version__")["status"] == 200
    body.arrived.set()
    thread.join(10)
    assert held["status"] == 200 and json.loads(held["body"])["success"] == ["slow"]
    assert call(app, "GET", f"/1.1/{name}/info/collections", auth)["status"] == 200
    assert call(app, "GET", "/__lbheartbeat__")["status"] == 200


def test_under_soft_pressure_successes_carry_backoff(node):
    app, name, auth = node(overload__max_concurrent=4, overload__soft_fraction=0.5, overload__backoff_min=100,
                           overload__backoff_max=400)
    quiet = call(app, "GET", f"/1.1/{name}/info/collections", auth)
    assert quiet["status"] == 200 and "X-Weave-Backoff" not in quiet["headers"]
    thread, body, _held = hold(app, name, auth)
    # 2 of 4 in flight with this one: at the soft threshold
    busy = call(app, "GET", f"/1.1/{name}/info/collections", auth)
    assert busy["status"] == 200 and busy["headers"]["X-Weave-Backoff"] == "100"
    body.arrived.set()
    thread.join(10)


def test_version_names_the_release(node):
    app, _name, _auth = node()
    info = json.loads(call(app, "GET", "/__version__")["body"])
    assert info["name"] == "syncstorage" and info["version"] and info["commit"]
