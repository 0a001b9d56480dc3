"""Deleting an account while its own writes are in flight leaves nothing behind,
and a later account never sees the deleted one's records (ids are not reused)."""
import threading

import sqlalchemy as sa
import webtest

from ..conftest import PASSWORD, new_username, password_hash


def _rows(app, userid: int) -> int:
    store = getattr(app.services.storage, "store", app.services.storage)
    table = store.schema.wbo_for(userid)
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(table.c.userid == userid)).scalar()


def _writers(app, username, underway: threading.Event, results: list, n: int = 6):
    def write(k):
        client = webtest.TestApp(app)
        client.authorization = ("Basic", (username, PASSWORD))
        for i in range(300):
            body = "[" + ", ".join(f'{{"id": "w{k}-{i}-{j}", "payload": "{"x" * 50}"}}' for j in range(20)) + "]"
            res = client.post(f"/1.1/{username}/storage/{('history', 'tabs', f'c{k}')[i % 3]}", body,
                              expect_errors=True)
            results.append(res.status_int)
            if res.status_int == 200 and len(results) >= 3 * n:
                underway.set()
            if res.status_int == 401:
                return
    return [threading.Thread(target=write, args=(k,)) for k in range(n)]


def test_deletion_racing_the_accounts_own_writers_leaves_no_row(testapp):
    app = testapp.app
    for _round in range(3):
        username = new_username()
        user = app.services.userdb.create_user(username, "racer@example.com", password_hash())
        underway, results = threading.Event(), []
        threads = _writers(app, username, underway, results)
        for t in threads:
            t.start()
        assert underway.wait(60)
        deleter = webtest.TestApp(app)
        deleter.authorization = ("Basic", (username, PASSWORD))
        assert deleter.delete(f"/user/1.0/{username}").text == "1"
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        assert set(results) <= {200, 401, 503}, set(results)
        assert _rows(app, user.userid) == 0
        assert app.services.userdb.get_user(username) is None

        # the next account starts empty, whatever id it gets
        newcomer = app.services.userdb.create_user(new_username(), None, password_hash())
        assert newcomer.userid != user.userid
        client = webtest.TestApp(app)
        client.authorization = ("Basic", (newcomer.username, PASSWORD))
        assert client.get(f"/1.1/{newcomer.username}/info/collections").json == {}


def test_user_ids_are_never_reused(testapp):
    """The newest account deleted, the next one gets a new id (SQLite reused max(rowid)+1)."""
    userdb = testapp.app.services.userdb
    first = userdb.create_user(new_username(), None, password_hash())
    userdb.delete_user(first)
    second = userdb.create_user(new_username(), None, password_hash())
    assert second.userid > first.userid
