"""The import's batching: records of many collections share bounded transactions, and
every collection's totals land with its last records."""
import sqlite3
import uuid

import pytest

from syncstorage.services.imports import importer
from syncstorage.services.imports.importer import import_accounts
from syncstorage.services.imports.weave_minimal import WeaveMinimalSource
from syncstorage.web.app import make_app

from .files import weave_minimal_account


@pytest.fixture
def target(make_settings):
    app = make_app(make_settings())
    yield app
    app.services.close()


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_batches_of_any_size_store_the_same(tmp_path, target, monkeypatch, batch):
    monkeypatch.setattr(importer, "BATCH_RECORDS", batch)
    name = f"batch{batch}x{uuid.uuid4().hex[:8]}"
    collections = {c: [(f"{c}{i}", 1700000000 + n * 100 + i, "p" * i) for i in range(10)]
                   for n, c in enumerate(("bookmarks", "history", "tabs"))}
    collections["empty"] = []
    weave_minimal_account(tmp_path, name, "some password", collections)

    (result,) = import_accounts(target.services, WeaveMinimalSource(tmp_path)).accounts

    assert result.ok, result.problems
    assert set(result.target) == {"bookmarks", "history", "tabs"}  # an empty table is no collection
    stored = target.services.storage.get_collection_timestamps(target.services.userdb.get_user(name).userid)
    assert stored == {"bookmarks": 170000000900, "history": 170000010900, "tabs": 170000020900}


def test_an_account_whose_records_are_all_refused_still_replaces_what_was_there(tmp_path, target):
    name = "allbad" + uuid.uuid4().hex[:8]
    weave_minimal_account(tmp_path, name, "some password", {"history": [("ok", 1700000000, "x")]})
    import_accounts(target.services, WeaveMinimalSource(tmp_path))
    for path in tmp_path.glob(f"{name}.*"):
        path.unlink()
    weave_minimal_account(tmp_path, name, "some password", {"history": [("a/b", 1800000000, "x")]})
    (result,) = import_accounts(target.services, WeaveMinimalSource(tmp_path)).accounts
    assert not result.ok and result.differing == ["history"]
    userid = target.services.userdb.get_user(name).userid
    assert target.services.storage.get_collection_timestamps(userid) == {}


def test_hostile_source_files_are_reported_per_account_and_never_written(tmp_path, target):
    """Whatever a source folder holds, the import reports it and goes on: a file that is not
    SQLite, a table name made to break SQL, a user name this service cannot serve."""
    digest = "0123456789abcdef"
    (tmp_path / f"garbage{uuid.uuid4().hex[:6]}.{digest}").write_bytes(b"\x00not sqlite" * 100)
    weird = "w" + uuid.uuid4().hex[:8]
    weave_minimal_account(tmp_path, weird, "some password", {"history": [("a", 1700000000, "x")]})
    path = next(tmp_path.glob(f"{weird}.*"))
    with sqlite3.connect(path) as db:
        db.execute('CREATE TABLE "x""; DROP TABLE history; --" (id TEXT, modified FLOAT, payload TEXT)')
        db.execute('INSERT INTO "x""; DROP TABLE history; --" VALUES (\'r\', 1700000000, \'p\')')
    weave_minimal_account(tmp_path, "a b", "some password", {"history": [("a", 1700000000, "x")]})
    before = path.read_bytes()

    report = import_accounts(target.services, WeaveMinimalSource(tmp_path))

    by_name = {r.username: r for r in report.accounts}
    garbage = next(r for name, r in by_name.items() if name.startswith("garbage"))
    assert garbage.status == "failed" and "could not be read" in garbage.problems[0]
    assert by_name[weird].status == "imported" and by_name[weird].differing == ['x"; DROP TABLE history; --']
    assert by_name[weird].target["history"].records == 1
    assert by_name["a b"].status == "failed" and "user name" in by_name["a b"].problems[0]
    assert target.services.userdb.get_user("a b") is None
    assert path.read_bytes() == before  # the source is only read
