"""``syncstorage import``, run as an operator runs it: summary, report file, exit status,
progress, and accounts placed on their storage node."""
import csv
import io
import uuid

import pytest

from syncstorage.infra.config import load_settings
from syncstorage.services.imports.importer import Progress, import_accounts
from syncstorage.services.imports.weave_minimal import WeaveMinimalSource
from syncstorage.web.app import make_app

from ..services.imports.files import weave_minimal_account
from .conftest import run

pytestmark = pytest.mark.services  # runs the command line in subprocesses


def test_import_prints_a_summary_and_exits_by_whether_everything_matches(tmp_path, config):
    folder = tmp_path / "data"
    folder.mkdir()
    good, bad = "g" + uuid.uuid4().hex[:12], "b" + uuid.uuid4().hex[:12]
    weave_minimal_account(folder, good, "password one", {
        "history": [("a", 1700000000.5, "x"), ("b", 1700000001.25, "yy")], "tabs": [("t", 1700000002.0, "{}")]})
    weave_minimal_account(folder, bad, "password two", {"history": [("a" * 70, 1700000000.0, "x")]})
    (folder / "notes.txt").write_text("not an account")

    dry = run(config, "import", "weave-minimal", str(folder), "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert f"ok       {good}  would import: 2 collections, 3 records, 5 bytes, newest 2023-11-14 22:13:22.00" \
        in dry.stdout
    assert f"PROBLEM  {bad}  would import" in dry.stdout
    assert "source problem: notes.txt: not an account file (USER.HASH), ignored" in dry.stdout

    report = tmp_path / "report.tsv"
    done = run(config, "import", "weave-minimal", str(folder), "--report", str(report))
    assert done.returncode == 1
    assert f"ok       {good}  imported" in done.stdout
    assert f"DIFFERS  {bad}  imported" in done.stdout
    assert "    history: source 1 records, 1 bytes, newest 2023-11-14 22:13:20.00; here nothing" in done.stdout
    assert "problem: history: id 'aaaa" in done.stdout
    assert "2 accounts from weave-minimal: 1 matching the source, 1 not; imported 2" in done.stdout.splitlines()[-1]
    rows = {(r["account"], r["collection"]): r for r in csv.DictReader(report.open(), delimiter="\t")}
    assert rows[(good, "history")]["same"] == "yes" and rows[(good, "history")]["target_newest"] == "1700000001.25"
    assert rows[(bad, "history")]["same"] == "no" and rows[(bad, "history")]["target_records"] == "0"

    (folder / f"{bad}.{'0' * 16}").unlink(missing_ok=True)
    for path in folder.glob(f"{bad}.*"):
        path.unlink()
    again = run(config, "import", "weave-minimal", str(folder))
    assert f"ok       {good}  unchanged" in again.stdout
    assert again.returncode == 1  # notes.txt is still there

    (folder / "notes.txt").unlink()
    assert run(config, "import", "weave-minimal", str(folder)).returncode == 0


def test_a_source_that_cannot_be_read_is_one_line_and_exit_2(tmp_path, config):
    missing = run(config, "import", "weave-minimal", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and missing.stderr.strip().splitlines()[-1] == \
        f"syncstorage: no weave-minimal data folder {tmp_path / 'nowhere'}"
    wrong = run(config, "import", "fsyncms", "mysql+pymysql://sync:secret@127.0.0.1:1/fsync")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr and "secret" not in wrong.stderr


def test_progress_on_a_pipe_is_a_line_per_interval():
    now = [0.0]
    out = io.StringIO()
    progress = Progress(3, out, clock=lambda: now[0], every=10)
    progress.update(1, 100)
    now[0] = 11
    progress.update(2, 500)
    now[0] = 12
    progress.update(3, 600)
    assert out.getvalue().splitlines() == ["2/3 accounts, 500 records, 45 records/s",
                                          "3/3 accounts, 600 records, 50 records/s"]


def test_accounts_land_on_their_storage_node(tmp_path, make_database):
    """With nodes registered, an imported account is assigned one and its records are
    written to that node's database, where its storage requests will go."""
    users_url, node_url = make_database("sqlite"), make_database("sqlite")
    settings = load_settings(overrides={"storage.sqluri": users_url, "users.sqluri": users_url,
                                        "node.role": "users", "users.node_databases": f"https://n1.example.com/={node_url}"},
                             environ={})
    app = make_app(settings)
    try:
        app.services.userdb.nodes.add("https://n1.example.com/", 10)
        folder = tmp_path / "data"
        folder.mkdir()
        weave_minimal_account(folder, "alice", "alice password", {"bookmarks": [("x", 1700000000.0, "p")]})
        report = import_accounts(app.services, WeaveMinimalSource(folder))
        assert report.ok, report.accounts[0].problems
        user = app.services.userdb.get_user("alice")
        assert app.services.userdb.nodes.get("https://n1.example.com/").current_load == 1 and user.nodeid is not None
        node_store = app.services.node_stores.for_url("https://n1.example.com/")
        assert node_store.get_collection_timestamps(user.userid) == {"bookmarks": 170000000000}
    finally:
        app.services.close()


def test_a_dry_run_assigns_no_node_to_an_existing_account(tmp_path, make_database):
    """A dry run only reads: an account that exists here without a node stays without one."""
    users_url, node_url = make_database("sqlite"), make_database("sqlite")
    settings = load_settings(overrides={"storage.sqluri": users_url, "users.sqluri": users_url,
                                        "node.role": "users",
                                        "users.node_databases": f"https://n1.example.com/={node_url}"},
                             environ={})
    app = make_app(settings)
    try:
        app.services.userdb.nodes.add("https://n1.example.com/", 10)
        app.services.userdb.create_user("carol", None, "{SSCRYPT}unused")
        folder = tmp_path / "data"
        folder.mkdir()
        weave_minimal_account(folder, "carol", "carol password", {"bookmarks": [("x", 1700000000.0, "p")]})
        (result,) = import_accounts(app.services, WeaveMinimalSource(folder), dry_run=True).accounts
        assert result.status == "would import" and result.ok
        assert app.services.userdb.get_user("carol").nodeid is None
        assert app.services.userdb.nodes.get("https://n1.example.com/").current_load == 0
    finally:
        app.services.close()
