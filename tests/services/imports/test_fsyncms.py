"""Import from FSyncMS databases built from its published schema (setup.php) and written
the way its PHP code writes (weave_storage.php's store_object; weave_hash.php's MD5 and
bcrypt), on SQLite and on MariaDB."""
from __future__ import annotations

import hashlib
import json
import uuid

import bcrypt
import pytest
import sqlalchemy as sa
import webtest

from syncstorage.gate.passwords import needs_upgrade
from syncstorage.services.imports.fsyncms import FSyncMSSource
from syncstorage.services.imports.importer import FAILED, IMPORTED, import_accounts
from syncstorage.services.imports.sources import BadSource
from syncstorage.web.app import make_app

# setup.php, verbatim
SCHEMA = [
    """create table wbo ( username varchar(100), id varchar(65), collection varchar(100),
       parentid  varchar(65), predecessorid int, modified real, sortindex int,
       payload text, payload_size int, ttl int, primary key (username,collection,id))""",
    "create table users ( username varchar(255), md5 varchar(64), primary key (username))",
    "create index parentindex on wbo (username, parentid)",
    "create index predecessorindex on wbo (username, predecessorid)",
    "create index modifiedindex on wbo (username, collection, modified)",
]
STORE = sa.text("replace into wbo (username, id, collection, parentid, predecessorid, sortindex, modified, payload, "
                "payload_size) values (:username, :id, :collection, :parentid, :predecessorid, :sortindex, "
                ":modified, :payload, :payload_size)")
NOW = 1_700_000_000.0


class FSyncMS:
    """An FSyncMS database and what its clients see of each account."""

    def __init__(self, url: str):
        self.url = url
        self.engine = sa.create_engine(url)
        with self.engine.begin() as conn:
            for statement in SCHEMA:
                conn.execute(sa.text(statement))

    def add_user(self, password: str, scheme: str = "md5") -> tuple[str, str]:
        username = uuid.uuid4().hex[:20]
        stored = hashlib.md5(password.encode()).hexdigest() if scheme == "md5" else \
            bcrypt.hashpw(password.encode(), bcrypt.gensalt(4, prefix=b"2a")).decode()
        with self.engine.begin() as conn:
            conn.execute(sa.text("insert into users (username, md5) values (:u, :h)"), {"u": username, "h": stored})
        return username, password

    def store(self, username: str, collection: str, record: dict, modified: float) -> None:
        payload = record.get("payload", "")
        with self.engine.begin() as conn:
            conn.execute(STORE, {"username": username, "collection": collection, "id": record["id"],
                                 "parentid": record.get("parentid"), "predecessorid": record.get("predecessorid"),
                                 "sortindex": record.get("sortindex"), "modified": round(modified, 2),
                                 "payload": payload, "payload_size": len(payload)})

    def fill(self, username: str, seed: int) -> None:
        self.store(username, "meta", {"id": "global", "payload": json.dumps({"syncID": f"s{seed}"})}, NOW)
        for i in range(30):
            self.store(username, "bookmarks", {"id": f"b{i}", "payload": f"Köln {i}", "sortindex": i,
                                               "parentid": "toolbar", "predecessorid": i - 1 if i else None},
                       NOW + i * 0.37)
        for i in range(60):
            self.store(username, "history", {"id": f"h{i:03d}", "payload": "y" * i}, NOW + 100 + i)

    def view(self, username: str) -> tuple[dict, dict]:
        """What FSyncMS answers for info/collections and full collection reads."""
        with self.engine.connect() as conn:
            info = {c: round(float(m), 2) for c, m in conn.execute(sa.text(
                "select collection, max(modified) from wbo where username = :u group by collection"), {"u": username})}
            records = {}
            for name in info:
                rows = conn.execute(sa.text("select id, modified, sortindex, payload, parentid, predecessorid "
                                            "from wbo where username = :u and collection = :c order by id"),
                                    {"u": username, "c": name}).mappings().all()
                records[name] = sorted(({"id": r["id"], "modified": round(float(r["modified"]), 2),
                                         "sortindex": r["sortindex"], "payload": r["payload"],
                                         "parentid": r["parentid"],
                                         "predecessorid": None if r["predecessorid"] is None
                                         else str(r["predecessorid"])} for r in rows), key=lambda r: r["id"])
        return info, records


@pytest.fixture(params=["sqlite", "mysql"])
def fsyncms(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'weave_db'}"
    else:
        url = request.getfixturevalue("mariadb").create_database("fsync" + uuid.uuid4().hex[:8])
    source = FSyncMS(url)
    yield source
    source.engine.dispose()


@pytest.fixture
def target(make_settings):
    app = make_app(make_settings())
    yield app
    app.services.close()


def target_view(app, auth) -> tuple[dict, dict]:
    client = webtest.TestApp(app)
    client.authorization = ("Basic", auth)
    info = client.get(f"/1.1/{auth[0]}/info/collections").json
    records = {name: sorted(({k: r.get(k) for k in ("id", "modified", "sortindex", "payload", "parentid",
                                                     "predecessorid")}
                             for r in client.get(f"/1.1/{auth[0]}/storage/{name}?full=1").json),
                            key=lambda r: r["id"]) for name in info}
    return info, records


@pytest.mark.services
def test_md5_and_bcrypt_accounts_arrive_with_their_records(fsyncms, target):
    md5_user = fsyncms.add_user("an md5 password")
    bcrypt_user = fsyncms.add_user("a bcrypt password", scheme="bcrypt")
    fsyncms.fill(md5_user[0], 1)
    fsyncms.fill(bcrypt_user[0], 2)

    report = import_accounts(target.services, FSyncMSSource(fsyncms.url))

    assert report.ok, [(r.username, r.problems) for r in report.accounts]
    assert [r.status for r in report.accounts] == [IMPORTED, IMPORTED]
    for auth in (md5_user, bcrypt_user):
        assert target_view(target, auth) == fsyncms.view(auth[0])
        assert not needs_upgrade(target.services.userdb.get_user(auth[0]).password_hash)


@pytest.mark.services
def test_bad_rows_and_orphans_are_reported_never_skipped_silently(fsyncms, target):
    auth = fsyncms.add_user("a password here")
    fsyncms.fill(auth[0], 3)
    fsyncms.store(auth[0], "history", {"id": "x" * 65, "payload": "too long an id"}, NOW)
    fsyncms.store(auth[0], "bad name!", {"id": "a", "payload": "p"}, NOW)
    fsyncms.store("ghost", "history", {"id": "a", "payload": "p"}, NOW)
    with fsyncms.engine.begin() as conn:
        conn.execute(sa.text("insert into users (username, md5) values ('unreadable', 'not a hash')"))

    report = import_accounts(target.services, FSyncMSSource(fsyncms.url))

    assert not report.ok
    assert report.problems == ["1 records of user 'ghost', who has no row in users: not imported"]
    by_name = {r.username: r for r in report.accounts}
    result = by_name[auth[0]]
    assert result.status == IMPORTED and result.differing == ["bad name!", "history"]
    assert any("is not 1-64 printable ASCII" in p for p in result.problems)
    assert any("collection name 'bad name!'" in p for p in result.problems)
    assert result.source["history"].records == 61 and result.target["history"].records == 60
    assert by_name["unreadable"].status == FAILED and "password hash" in by_name["unreadable"].problems[0]
    assert target.services.userdb.get_user("unreadable") is None


@pytest.mark.services
def test_dry_run_counts_and_writes_nothing(fsyncms, target):
    auth = fsyncms.add_user("dry run password")
    fsyncms.fill(auth[0], 4)
    report = import_accounts(target.services, FSyncMSSource(fsyncms.url), dry_run=True)
    (result,) = report.accounts
    assert result.status == "would import" and result.ok and result.records == 91
    assert target.services.userdb.get_user(auth[0]) is None


def test_a_database_without_fsyncms_tables_is_refused_in_one_line(tmp_path):
    with pytest.raises(BadSource, match="cannot read an FSyncMS database at sqlite:///"):
        FSyncMSSource(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(BadSource, match=r"mysql\+pymysql://u:\*\*\*@127.0.0.1:1/x"):
        FSyncMSSource("mysql+pymysql://u:secret@127.0.0.1:1/x")
