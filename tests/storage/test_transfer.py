"""Copying a user between databases of different backends, shard counts and collection ids."""
import pytest

from syncstorage.infra.dbengine import create_engine
from syncstorage.storage.base import ItemQuery
from syncstorage.storage.sql import SQLStorage
from syncstorage.storage.testing import T0, new_userid
from syncstorage.storage.transfer import copy_user, fingerprint
from syncstorage.wire.wbo import WBO


pytestmark = pytest.mark.services  # a MariaDB target


@pytest.fixture
def stores(make_database):
    """A SQLite source with 3 shards and a MariaDB target with 2."""
    engines = [create_engine(make_database("sqlite", role="storage", shards=3)),
               create_engine(make_database("mysql", role="storage", shards=2))]
    yield [SQLStorage(e) for e in engines]
    for e in engines:
        e.dispose()


def _everything(store, uid, collections):
    return {c: sorted((r.id, r.payload, r.sortindex, r.modified, r.parentid, r.predecessorid)
                      for r in store.get_items(uid, c, ItemQuery(), T0 + 10**6, full=True)) for c in collections}


def test_copy_keeps_every_field_timestamp_and_total(stores):
    source, target = stores
    uid = new_userid()
    target.set_items(new_userid(), "another-custom", [WBO("x", "y")], T0)  # custom ids now differ
    source.set_items(uid, "my-custom", [WBO("c1", "custom")], T0)
    source.set_items(uid, "bookmarks", [WBO(f"b{i:04d}", f"payload {i}", sortindex=i, parentid="p",
                                            predecessorid="q", ttl=10**6) for i in range(120)], T0 + 1)
    source.set_items(uid, "bookmarks", [WBO("b0007", "changed")], T0 + 50)
    source.set_items(uid, "history", [WBO("h", "☃ unicode")], T0 + 70)
    assert source.collection_id("my-custom") != target.collection_id("my-custom", create=True)

    copied = copy_user(source, target, uid, batch_size=25)

    assert copied == 122
    collections = ["bookmarks", "history", "my-custom"]
    assert _everything(target, uid, collections) == _everything(source, uid, collections)
    assert target.get_collection_timestamps(uid) == source.get_collection_timestamps(uid)
    assert target.get_collection_counts(uid, T0 + 100) == {"bookmarks": 120, "history": 1, "my-custom": 1}
    assert target.get_collection_usage(uid, T0 + 100) == source.get_collection_usage(uid, T0 + 100)
    assert fingerprint(target, uid) == fingerprint(source, uid)


def test_copy_replaces_what_the_target_held(stores):
    source, target = stores
    uid = new_userid()
    target.set_items(uid, "tabs", [WBO("stale", "old")], T0)
    source.set_items(uid, "bookmarks", [WBO("a", "new")], T0 + 5)
    copy_user(source, target, uid)
    assert target.get_collection_timestamps(uid) == {"bookmarks": T0 + 5}
    assert target.get_item(uid, "tabs", "stale", T0 + 10) is None


def test_fingerprint_sees_a_changed_row(stores):
    source, target = stores
    uid = new_userid()
    source.set_items(uid, "bookmarks", [WBO("a", "one"), WBO("b", "two")], T0)
    copy_user(source, target, uid)
    before = fingerprint(target, uid)
    source.set_items(uid, "bookmarks", [WBO("c", "three")], T0 + 1)
    assert fingerprint(source, uid) != before
    assert fingerprint(source, new_userid()) == {}
