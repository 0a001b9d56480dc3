"""Slow clients (a header or body sent a byte at a time) against the production front
end: nginx buffers whole requests before gunicorn sees them, so a drip of many
connections holds no gunicorn thread and honest clients keep being served."""
import base64
import json
import socket
import threading
import time
import urllib.request

from loadtest import servers
from loadtest.services import free_port

from .test_nginx import nginx_binary

DRIPPERS = 50  # of each kind: header drip and body drip
DRIP_SECONDS = 12  # bounded: the drip stops by itself


def _drip(port: int, dripping: threading.Event, stop: threading.Event) -> None:
    """DRIPPERS connections sending headers slowly, DRIPPERS sending a body slowly."""
    conns = []
    for n in range(2 * DRIPPERS):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setblocking(False)
        if n % 2:  # a complete header announcing a body that trickles
            s.send(b"PUT /user/1.0/kismw365lo7emoxr3ohojgpild6lph4b HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Length: 10000\r\n\r\n")
        else:  # a header line that never ends
            s.send(b"GET /__heartbeat__ HTTP/1.1\r\nX-Slow: ")
        conns.append(s)
    deadline = time.monotonic() + DRIP_SECONDS
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            for s in conns:
                try:
                    s.send(b"x")
                except OSError:
                    pass
            dripping.set()  # every connection open and sending
            stop.wait(0.2)
    finally:
        for s in conns:
            s.close()


def test_nginx_keeps_serving_honest_clients_during_a_drip(tmp_path):
    nginx_binary()
    env = servers.node_env(f"sqlite:///{tmp_path / 'sync.db'}")
    servers.migrate(env)
    app_port, port = free_port(), free_port()
    # a small gunicorn, so that a few pinned threads would be all of them
    gunicorn = servers.start_gunicorn(servers.APP, app_port, env, workers=1, threads=4, log=tmp_path / "app.log")
    nginx = servers.start_nginx(port, app_port, 4, tmp_path / "nginx")
    base = f"http://127.0.0.1:{port}"
    try:
        name = servers.create_account(base, "honest@example.com")
        auth = "Basic " + base64.b64encode(f"{name}:{servers.profiles.PASSWORD}".encode()).decode()
        dripping, stop = threading.Event(), threading.Event()
        dripper = threading.Thread(target=_drip, args=(port, dripping, stop))
        dripper.start()
        try:
            assert dripping.wait(30)
            served = []
            for n in range(20):
                request = urllib.request.Request(f"{base}/1.1/{name}/storage/tabs/t{n}", method="PUT",
                                                 data=json.dumps({"payload": "p"}).encode(),
                                                 headers={"Authorization": auth})
                started = time.monotonic()
                with urllib.request.urlopen(request, timeout=5) as res:
                    served.append((res.status, time.monotonic() - started))
        finally:
            stop.set()
            dripper.join(30)
        assert [status for status, _ in served] == [200] * 20
        assert max(seconds for _, seconds in served) < 5
    finally:
        servers.stop(nginx)
        servers.stop(gunicorn)
