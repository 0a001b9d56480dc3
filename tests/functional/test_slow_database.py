"""A slow database (a row lock held elsewhere): clients are told to back off, then excess is shed,
and every write that waited completes once the database moves again."""
import json
import threading

import sqlalchemy as sa

from syncstorage.web.app import make_app
from syncstorage.infra.config import load_settings
from loadtest.services import wait_for

from ..conftest import PASSWORD, new_username, password_hash, sql_store
from ..gate.test_overload import call


def test_held_lock_causes_backoff_then_shedding_then_recovery(mysql_url):
    settings = load_settings(overrides={"storage.sqluri": mysql_url, "overload.max_concurrent": 3,
                                        "overload.soft_fraction": 0.5, "overload.backoff_min": 120,
                                        "overload.backoff_max": 600, "overload.shed_retry_after": 45}, environ={})
    app = make_app(settings)
    name = new_username()
    userid = app.services.userdb.create_user(name, None, password_hash()).userid
    auth = f"{name}:{PASSWORD}"
    root = f"/1.1/{name}"
    assert call(app, "POST", f"{root}/storage/history", auth, json.dumps([{"id": "0", "payload": "x"}]).encode()
                )["status"] == 200

    # another client of the database holds the collection's row lock
    blocker = sql_store(app).engine.connect()
    lock = blocker.begin()
    uc = sql_store(app).schema.user_collections
    blocker.execute(sa.select(uc.c.count).where(uc.c.userid == userid).with_for_update()).all()

    results = []

    def write(n):
        body = json.dumps([{"id": f"w{n}", "payload": "y" * 10}]).encode()
        results.append(call(app, "POST", f"{root}/storage/history", auth, body))

    writers = []
    try:
        writers.append(threading.Thread(target=write, args=(1,)))
        writers[-1].start()
        wait_for(lambda: app.services.admission.in_flight == 1, 10, interval=0.01, what="the first write to wait")
        soft = call(app, "GET", f"{root}/storage/history", auth)  # 2 of 3 in flight
        assert soft["status"] == 200 and int(soft["headers"]["X-Weave-Backoff"]) >= 120
        for n in (2, 3):
            writers.append(threading.Thread(target=write, args=(n,)))
            writers[-1].start()
        wait_for(lambda: app.services.admission.in_flight == 3, 10, interval=0.01, what="three writes to wait")
        shed = call(app, "GET", f"{root}/info/collections", auth)
        assert shed["status"] == 503
        assert shed["headers"]["Retry-After"] == "45" and shed["headers"]["X-Weave-Backoff"] == "45"
        assert call(app, "GET", "/__lbheartbeat__")["status"] == 503
    finally:
        lock.rollback()
        blocker.close()
    for writer in writers:
        writer.join(60)
    assert [r["status"] for r in results] == [200, 200, 200]
    counts = json.loads(call(app, "GET", f"{root}/info/collection_counts", auth)["body"])
    assert counts == {"history": 4}
    assert call(app, "GET", "/__lbheartbeat__")["status"] == 200
    app.services.close()
