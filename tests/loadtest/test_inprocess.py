"""loadtest.inprocess: the app's GET and POST called without an HTTP server, on real processes and threads."""
import base64
import io
import json

import pytest

from loadtest import inprocess, profiles, rawdb, servers
from syncstorage.users.names import username_from_account


@pytest.fixture
def node(tmp_path):
    """A migrated SQLite node's settings and two accounts with the load-test password."""
    from syncstorage.infra.config import load_settings
    from syncstorage.web.app import make_app

    _mariadb, url = servers.database("sqlite", "inprocess", tmp_path)
    env = servers.node_env(url)
    servers.migrate(env)
    app = make_app(load_settings(environ=env))
    users = []
    for n in range(2):
        email = f"inprocess{n}@example.com"
        name = username_from_account(email)
        body = json.dumps({"email": email, "password": profiles.PASSWORD}).encode()
        status = []
        b"".join(app({"REQUEST_METHOD": "PUT", "PATH_INFO": f"/user/1.0/{name}", "SERVER_NAME": "127.0.0.1",
                      "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
                      "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
                      "REMOTE_ADDR": "127.0.0.1"}, lambda s, h, e=None: status.append(s)))
        assert status[0].startswith("200"), status
        users.append(name)
    return env, users


def test_posts_then_gets_whole_batches_of_records(node):
    env, users = node
    posted = inprocess.throughput("post", env, users, 0.5, processes=1, threads=2)
    assert posted > 0 and posted * 0.5 % rawdb.RECORDS == 0
    got = inprocess.throughput("get", env, users, 0.5, processes=2, threads=2)  # users[0] holds the batch now
    assert got > 0 and got * 0.5 % rawdb.RECORDS == 0


def test_a_get_of_fewer_records_than_a_batch_is_refused(node):
    env, users = node
    with pytest.raises(RuntimeError, match="requests failed"):
        inprocess.throughput("get", env, users, 0.2, processes=1, threads=2)  # nothing posted yet


def test_requests_the_app_refuses_fail_the_measurement(node):
    env, _users = node
    with pytest.raises(RuntimeError, match="requests failed"):
        inprocess.throughput("post", env, [username_from_account("nobody@example.com")], 0.2, processes=1, threads=1)


def test_the_post_is_the_batch_wrk_sends():
    records = json.loads(rawdb.post_body("p"))
    assert [r["id"] for r in records] == [f"rec{i:06d}" for i in range(1, 101)]
    assert [r["sortindex"] for r in records] == list(range(1, 101)) and {r["payload"] for r in records} == {"p"}
    token = inprocess.request_maker("get", "someone", "p")()["HTTP_AUTHORIZATION"].split()[1]
    assert base64.b64decode(token).decode() == f"someone:{profiles.PASSWORD}"
