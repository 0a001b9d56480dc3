"""Import from a real weave-minimal: accounts and records created through its own HTTP
API, imported, then synced against this service and compared record by record."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from base64 import b64encode
from pathlib import Path

import pytest
import webtest

from syncstorage.gate.passwords import needs_upgrade
from syncstorage.services.imports.importer import IMPORTED, KEPT, UNCHANGED, import_accounts
from syncstorage.services.imports.weave_minimal import WeaveMinimalSource
from syncstorage.users.names import username_from_account
from syncstorage.web.app import make_app
from tests.conftest import REQUIRE_SERVICES

ROOT = Path(__file__).resolve().parents[3]
BINARY = Path(os.environ.get("SYNCSTORAGE_WEAVE_MINIMAL", ROOT / ".venv" / "weave-minimal" / "bin" / "weave-minimal"))
FIELDS = ("id", "modified", "sortindex", "payload", "parentid", "predecessorid")

pytestmark = pytest.mark.services


class WeaveMinimal:
    """weave-minimal 1.5.1 serving ``data_dir`` on a free loopback port."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(BINARY), "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(data_dir),
             "--enable-registration"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:  # wait until it answers (or died)
            try:
                urllib.request.urlopen(self.url + "/user/1.0/nobody", timeout=1).read()
                return
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("weave-minimal did not start")
                time.sleep(0.05)

    def call(self, method: str, path: str, body=None, auth: tuple[str, str] | None = None):
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if auth:
            request.add_header("Authorization", "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        return json.loads(text) if text[:1] in "[{" else text

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module")
def weave_minimal(tmp_path_factory):
    if not BINARY.exists():
        message = f"weave-minimal is not installed at {BINARY} (make install)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    server = WeaveMinimal(tmp_path_factory.mktemp("weave-minimal"))
    yield server
    server.stop()


def sign_up(server: WeaveMinimal, password: str) -> tuple[str, str]:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    username = username_from_account(email)  # what Firefox derives and sends
    assert server.call("PUT", f"/user/1.0/{username}", {"password": password, "email": email}) == username
    return username, password


def fill(server: WeaveMinimal, auth: tuple[str, str], seed: int) -> None:
    """What a Firefox profile stores: meta/global, keys, bookmarks with relations and sort
    indexes, history with a TTL, tabs, clients; payloads with non-ASCII text."""
    user = auth[0]
    server.call("PUT", f"/1.1/{user}/storage/meta/global", {"payload": json.dumps({"syncID": f"s{seed}"})}, auth)
    server.call("PUT", f"/1.1/{user}/storage/crypto/keys", {"payload": "{\"ciphertext\": \"k\"}"}, auth)
    bookmarks = [{"id": f"bm{seed}-{i:03d}", "payload": json.dumps({"title": f"Zürich {i} ✓"}),
                  "sortindex": 100 - i, "parentid": "menu", "predecessorid": f"bm{seed}-{i - 1:03d}" if i else None}
                 for i in range(40)]
    for item in bookmarks:
        if item["predecessorid"] is None:
            del item["predecessorid"]
    server.call("POST", f"/1.1/{user}/storage/bookmarks", bookmarks, auth)
    history = [{"id": f"h{seed}-{i:04d}", "payload": "x" * (i % 700), "sortindex": i, "ttl": 5184000}
               for i in range(150)]
    server.call("POST", f"/1.1/{user}/storage/history", history, auth)
    server.call("POST", f"/1.1/{user}/storage/tabs", [{"id": "t1", "payload": "{}", "ttl": 604800}], auth)
    server.call("POST", f"/1.1/{user}/storage/clients", [{"id": f"c{seed}", "payload": "{\"name\": \"Fox\"}"}], auth)
    server.call("DELETE", f"/1.1/{user}/storage/history/h{seed}-0003", None, auth)


def source_view(server: WeaveMinimal, auth: tuple[str, str]) -> tuple[dict, dict]:
    """info/collections and every record, as weave-minimal's clients see them."""
    user = auth[0]
    info = server.call("GET", f"/1.1/{user}/info/collections", None, auth)
    records = {name: sorted(server.call("GET", f"/1.1/{user}/storage/{name}?full=1", None, auth),
                            key=lambda r: r["id"]) for name in info}
    return info, records


def target_view(app: webtest.TestApp, auth: tuple[str, str]) -> tuple[dict, dict]:
    user = auth[0]
    app.authorization = ("Basic", auth)
    info = app.get(f"/1.1/{user}/info/collections").json
    records = {name: sorted(app.get(f"/1.1/{user}/storage/{name}?full=1").json, key=lambda r: r["id"])
               for name in info}
    return info, records


def comparable(view: tuple[dict, dict]) -> tuple[dict, dict]:
    """info/collections and each record's fields as a client reads them (weave-minimal also
    echoes ttl, which Sync 1.1 does not return)."""
    info, records = view
    return info, {name: [{f: r.get(f) for f in FIELDS} for r in items] for name, items in records.items()}


@pytest.fixture
def target(make_settings):
    app = make_app(make_settings())
    yield app
    app.services.close()


def test_accounts_and_records_arrive_as_clients_saw_them(weave_minimal, target):
    accounts = [sign_up(weave_minimal, f"secret password {i}") for i in range(3)]
    for seed, auth in enumerate(accounts):
        fill(weave_minimal, auth, seed)
    # one owner changed their password on weave-minimal (it renames the account's file)
    old = accounts[2]
    weave_minimal.call("POST", f"/user/1.0/{old[0]}/password", b"a new password 2", old)
    accounts[2] = (old[0], "a new password 2")
    before = {auth[0]: source_view(weave_minimal, auth) for auth in accounts}

    report = import_accounts(target.services, WeaveMinimalSource(weave_minimal.data_dir))

    mine = {r.username: r for r in report.accounts if r.username in before}
    assert {name: r.status for name, r in mine.items()} == {name: IMPORTED for name in before}
    assert all(r.ok for r in mine.values()), [r.problems for r in mine.values()]
    client = webtest.TestApp(target)
    for auth in accounts:
        # the same collections, timestamps and records: the next sync sees nothing new
        got = target_view(client, auth)
        assert comparable(got) == comparable(before[auth[0]])
        assert len(got[1]["history"]) == 149 and len(got[1]["bookmarks"]) == 40
        # the legacy hash verified and was replaced by the current KDF at this first login
        stored = target.services.userdb.get_user(auth[0])
        assert not needs_upgrade(stored.password_hash) and stored.email is None
    client.authorization = ("Basic", (old[0], old[1]))
    client.get(f"/1.1/{old[0]}/info/collections", status=401)


def test_re_running_leaves_matching_accounts_and_keeps_newer_ones(weave_minimal, target):
    quiet, busy = sign_up(weave_minimal, "first password"), sign_up(weave_minimal, "second password")
    fill(weave_minimal, quiet, 7)
    fill(weave_minimal, busy, 8)
    source = WeaveMinimalSource(weave_minimal.data_dir)
    import_accounts(target.services, source)
    # the busy account's client syncs here after the import
    client = webtest.TestApp(target)
    client.authorization = ("Basic", busy)
    client.post_json(f"/1.1/{busy[0]}/storage/tabs", [{"id": "t2", "payload": "{}"}])

    again = {r.username: r for r in import_accounts(target.services, source).accounts}
    assert again[quiet[0]].status == UNCHANGED and again[quiet[0]].ok
    assert again[busy[0]].status == KEPT and not again[busy[0]].ok
    assert "newer than the source" in again[busy[0]].problems[0]
    assert client.get(f"/1.1/{busy[0]}/storage/tabs/t2").json["id"] == "t2"  # nothing of it was lost

    forced = {r.username: r for r in import_accounts(target.services, source, replace=True).accounts}
    assert forced[busy[0]].status == IMPORTED and forced[busy[0]].ok
    client.get(f"/1.1/{busy[0]}/storage/tabs/t2", status=404)


def test_a_record_added_on_the_source_reaches_a_re_run(weave_minimal, target):
    auth = sign_up(weave_minimal, "third password")
    fill(weave_minimal, auth, 9)
    source = WeaveMinimalSource(weave_minimal.data_dir)
    import_accounts(target.services, source)
    weave_minimal.call("POST", f"/1.1/{auth[0]}/storage/history", [{"id": "late", "payload": "p"}], auth)
    result = {r.username: r for r in import_accounts(target.services, source).accounts}[auth[0]]
    assert result.status == IMPORTED and result.ok
    assert comparable(target_view(webtest.TestApp(target), auth)) == comparable(source_view(weave_minimal, auth))
