"""Generated data is consistent with what the storage layer reads back, and generation resumes."""
import sqlalchemy as sa

from loadtest import profiles
from loadtest.datagen import generate
from syncstorage.infra.dbengine import create_engine
from syncstorage.storage.base import ItemQuery
from syncstorage.storage.sql import SQLStorage
from syncstorage.users.sql import UserDB
from syncstorage.gate.auth import Authenticator


def test_generated_accounts_and_records_read_back_exactly(backend_url):
    engine = create_engine(backend_url)
    users = UserDB(engine)
    with engine.connect() as conn:
        existing = conn.execute(sa.text("SELECT COUNT(*) FROM users WHERE username LIKE 'lt%'")).scalar()
    created, written = generate(backend_url, backend_url, existing + 12, 0.25, batch=5, seed=7, progress=False)
    assert created == 12 and written > 12 * 5
    again = generate(backend_url, backend_url, existing + 12, 0.25, batch=5, seed=7, progress=False)
    assert again == (0, 0)  # resumes: nothing left to do

    storage = SQLStorage(engine)
    ts = int(__import__("time").time() * 100)
    seen = 0
    for index in range(existing, existing + 12):
        account = users.get_user(profiles.account_name(index))
        assert Authenticator(users).check_password(account, profiles.PASSWORD)
        counts = storage.get_collection_counts(account.userid, ts)
        assert {"meta", "crypto"} <= counts.keys()
        for collection, count in counts.items():
            items = storage.get_items(account.userid, collection, ItemQuery(), ts, full=True)
            assert len(items) == count
            assert storage.get_collection_usage(account.userid, ts)[collection] == sum(len(r.payload) for r in items)
            seen += count
    assert seen == written
    engine.dispose()
