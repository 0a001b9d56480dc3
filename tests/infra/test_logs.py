"""One JSON line per request, with what an operator needs and nothing personal."""
import json
import logging
import time

import pytest

from loadtest.services import wait_for
from syncstorage.infra.logs import user_hash


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(json.loads(record.getMessage()))


@pytest.fixture
def request_lines():
    logger = logging.getLogger("syncstorage.request")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_every_request_gets_one_json_line(testapp, user, root, request_lines):
    testapp.put(f"{root}/storage/c/a", '{"payload": "x"}')
    testapp.put(f"{root}/storage/c/b", "not json", status=400)
    testapp.get("/nowhere", status=404)
    ok, bad, missing = request_lines[-3:]
    assert (ok["method"], ok["route"], ok["status"], ok["errno"]) == ("PUT", "item", 200, None)
    assert ok["user"] == user_hash(user.userid)
    assert user.userid not in ok.values() and str(user.userid) not in ok.values()  # only its hash
    assert ok["ms"] >= 0 and ok["time"] > 0
    assert (bad["status"], bad["errno"]) == (400, "6")
    assert (missing["route"], missing["status"], missing["user"]) == ("unmatched", 404, None)


def test_the_line_says_the_backoff_the_response_carries(make_testapp, request_lines):
    app = make_testapp(node__status_refresh=0, storage__retry_after=900)
    status = app.app.services.node_status
    status.set("backoff:120")  # added to the response by the pipeline
    asked = app.get("/user/1.0/someone")
    status.set("down")  # the error response's own header
    refused = app.get("/user/1.0/someone", status=503)
    status.set("ok")
    plain = app.get("/user/1.0/someone")
    for res in (asked, refused, plain):  # and every response one X-Weave-Timestamp
        assert len(res.headers.getall("X-Weave-Timestamp")) == 1
    assert [line["backoff"] for line in request_lines[-3:]] == ["120", "900", None]
    assert (asked.headers["X-Weave-Backoff"], refused.headers["X-Weave-Backoff"]) == ("120", "900")


def test_request_metrics_count_routes_and_statuses(testapp, root):
    def count(route, status):
        text = testapp.get("/__metrics__", extra_environ={"REMOTE_ADDR": "127.0.0.1"}).text
        prefix = f'syncstorage_requests_total{{method="GET",route="{route}",status="{status}"}}'
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))
    before = count("info_collections", 200)
    testapp.get(f"{root}/info/collections")
    testapp.get(f"{root}/info/collections")
    assert count("info_collections", 200) == before + 2
    assert "syncstorage_request_seconds_bucket" in testapp.get(
        "/__metrics__", extra_environ={"REMOTE_ADDR": "127.0.0.1"}).text


def test_the_line_is_json_whatever_the_strings_hold(request_lines):
    from syncstorage.infra.logs import log_request

    log_request(method='GE"T\\\n\u00e9', route="unmatched", status=400, seconds=0.0123456, userid=7,
                errno='{"x": 1}', backoff="60", crash_id="abc\u2028")
    log_request(method="GET", route="item", status=200, seconds=0, userid=None, errno=None, backoff=None,
                crash_id=None)
    odd, plain = request_lines[-2:]
    assert odd == {"time": odd["time"], "method": 'GE"T\\\n\u00e9', "route": "unmatched", "status": 400,
                   "ms": 12.35, "user": user_hash(7), "errno": '{"x": 1}', "backoff": "60", "crash_id": "abc\u2028"}
    assert plain == {"time": plain["time"], "method": "GET", "route": "item", "status": 200, "ms": 0.0,
                     "user": None, "errno": None, "backoff": None}
    assert abs(plain["time"] - time.time()) < 60


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("syncstorage.request", logging.INFO, "", 0, message, None, None)


def test_buffered_lines_arrive_whole_and_in_order_from_many_threads(tmp_path):
    import threading

    from syncstorage.infra.logs import BufferedLines

    path = tmp_path / "requests.log"
    with open(path, "ab") as out:
        handler = BufferedLines(out.fileno(), interval=0.05, limit=4096)

        def write(thread):
            for n in range(500):
                handler.handle(_record(json.dumps({"thread": thread, "n": n, "pad": "x" * (n % 97)})))
        threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        handler.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 8 * 500
    for thread in range(8):  # each thread's lines, complete and in the order it wrote them
        assert [r["n"] for r in lines if r["thread"] == thread] == list(range(500))


def test_a_filter_on_the_request_logger_still_applies(tmp_path):
    from syncstorage.infra.logs import REQUEST_LOG, BufferedLines, log_request

    path = tmp_path / "requests.log"
    saved = REQUEST_LOG.handlers[:], REQUEST_LOG.level, REQUEST_LOG.propagate
    with open(path, "ab") as out:
        handler = BufferedLines(out.fileno(), interval=3600)
        REQUEST_LOG.handlers[:] = [handler]
        REQUEST_LOG.setLevel(logging.INFO)
        REQUEST_LOG.propagate = False
        try:
            log_request(method="GET", route="item", status=200, seconds=0, userid=None, errno=None, backoff=None,
                        crash_id=None)
            REQUEST_LOG.addFilter(lambda record: "secret" not in record.getMessage())
            log_request(method="GET", route="secret", status=200, seconds=0, userid=None, errno=None,
                        backoff=None, crash_id=None)
            handler.flush()
        finally:
            REQUEST_LOG.filters.clear()
            REQUEST_LOG.handlers[:], level, REQUEST_LOG.propagate = saved
            REQUEST_LOG.setLevel(level)
            handler.close()
    assert [json.loads(line)["route"] for line in path.read_text().splitlines()] == ["item"]


def test_buffered_lines_are_written_within_the_interval_without_a_flush(tmp_path):
    from syncstorage.infra.logs import BufferedLines

    path = tmp_path / "requests.log"
    with open(path, "ab") as out:
        handler = BufferedLines(out.fileno(), interval=0.05)
        handler.handle(_record('{"n": 1}'))
        assert path.read_text() == ""  # kept in memory at first
        wait_for(lambda: path.read_text() == '{"n": 1}\n', 10, interval=0.01, what="the periodic flush")
        handler.close()


def test_request_lines_survive_exit(tmp_path):
    """A worker that exits normally writes what it still held (logging.shutdown flushes)."""
    import subprocess
    import sys

    code = ("from syncstorage.infra.logs import configure_logging, log_request\n"
            "configure_logging()\n"
            "for n in range(3):\n"
            "    log_request(method='GET', route='item', status=200, seconds=n, userid=None, errno=None,"
            " backoff=None, crash_id=None)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["ms"] for line in proc.stderr.splitlines()] == [0.0, 1000.0, 2000.0]


def test_a_forked_child_logs_even_if_the_fork_caught_a_lock_held(tmp_path):
    """gunicorn forks workers: a lock held by another thread at the fork must not block the child."""
    import os
    import signal

    from syncstorage.infra.logs import BufferedLines

    path = tmp_path / "requests.log"
    with open(path, "ab") as out:
        handler = BufferedLines(out.fileno(), interval=60)
        handler.handle(_record('{"from": "parent"}'))
        with handler._buffer_lock, handler._write_lock:  # as if another thread were appending or writing
            pid = os.fork()
            if pid == 0:  # the child: must not wait for locks nobody will release
                try:
                    handler.handle(_record('{"from": "child"}'))
                    handler.flush()
                finally:
                    os._exit(0)
        try:
            wait_for(lambda: os.waitpid(pid, os.WNOHANG)[0] == pid, 30, interval=0.05, what="the child")
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)  # stuck on a lock: do not leave it behind
            os.waitpid(pid, 0)
            raise
        handler.close()
    lines = path.read_text().splitlines()
    assert sorted(lines) == ['{"from": "child"}', '{"from": "parent"}']  # and the parent's line only once


def test_closing_ends_the_flushing_thread(tmp_path):
    import threading

    from syncstorage.infra.logs import BufferedLines

    with open(tmp_path / "requests.log", "ab") as out:
        handler = BufferedLines(out.fileno(), interval=30)
        before = set(threading.enumerate())
        handler.handle(_record('{"n": 1}'))
        (flusher,) = set(threading.enumerate()) - before  # started by the first line
        handler.close()
        flusher.join(timeout=30)
        assert not flusher.is_alive()
    assert (tmp_path / "requests.log").read_text() == '{"n": 1}\n'
