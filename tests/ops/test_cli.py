"""The ``syncstorage`` command, run as a user would run it."""
import subprocess
import sys

import pytest

from syncstorage.ops.cli import build_parser
from loadtest.services import free_port, wait_for

from ..conftest import sql_store
from .conftest import run

pytestmark = pytest.mark.services  # runs the command line in subprocesses




def test_user_add_passwd_delete(config):
    import uuid
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    added = run(config, "user", "add", email, "--password-stdin", stdin="first-password\n")
    assert added.returncode == 0, added.stderr
    name = added.stdout.split()[1]
    assert run(config, "user", "add", email, "--password-stdin", stdin="first-password\n").returncode != 0
    assert run(config, "user", "passwd", name, "--password-stdin", stdin="short\n").returncode != 0
    assert run(config, "user", "passwd", name, "--password-stdin", stdin="second-password\n").returncode == 0
    from syncstorage.web.app import make_app
    from syncstorage.infra.config import load_settings
    app = make_app(load_settings(config, environ={}))
    assert app.services.authenticator.check_password(app.services.userdb.get_user(name), "second-password")
    assert run(config, "user", "delete", name).returncode == 0
    assert app.services.userdb.get_user(name) is None
    assert run(config, "user", "delete", name).returncode != 0


@pytest.fixture
def app_config(tmp_path, configuration):
    """An ini file for the configuration the test's app runs in (database and memcached)."""
    url, servers = configuration
    path = tmp_path / "app.ini"
    path.write_text(f"[storage]\nsqluri = {url}\n[cache]\nservers = {','.join(servers)}\n")
    return str(path)


def test_purge_ttl_removes_expired_records(app_config, make_testapp, make_user):
    config = app_config
    testapp = make_testapp()
    account = make_user(testapp)
    root = f"/1.1/{account.username}"
    testapp.post(f"{root}/storage/c", '[{"id": "a", "payload": "x", "ttl": 0}, {"id": "b", "payload": "y"}]')
    storage = sql_store(testapp.app)
    table = storage.schema.wbo_for(account.userid)
    with storage.engine.connect() as conn:
        before = conn.execute(table.select().where(table.c.userid == account.userid)).all()
    assert len(before) == 2
    result = run(config, "purge-ttl", "--batch-size", "10")
    assert result.returncode == 0, result.stderr
    with storage.engine.connect() as conn:
        after = conn.execute(table.select().where(table.c.userid == account.userid)).all()
    assert [r.id for r in after] == ["b"]
    assert testapp.get(f"{root}/info/collection_counts").json == {"c": 1}


def test_help_of_every_command(capsys):
    for args in (["--help"], ["serve", "--help"], ["migrate", "--help"], ["user", "add", "--help"],
                 ["user", "delete", "--help"], ["user", "passwd", "--help"], ["purge-ttl", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(args)
        assert exit_info.value.code == 0
        assert "usage: syncstorage" in capsys.readouterr().out


def test_serve_runs_gunicorn_on_port_from_environment(tmp_path):
    """What `make serve` does: migrate a SQLite file, then serve on $PORT."""
    config = tmp_path / "dev.ini"
    config.write_text(f"[storage]\nsqluri = sqlite:///{tmp_path / 'dev.db'}\n[node]\nurl = http://127.0.0.1/\n"
                      "[server]\nworkers = 1\nthreads = 2\n")
    assert run(str(config), "migrate").returncode == 0
    port = free_port()
    env = {"PORT": str(port), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-m", "syncstorage.ops.cli", "--config", str(config), "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        import urllib.request

        def answered():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/user/1.0/nobody", timeout=2) as res:
                return res.read()
        assert wait_for(answered, 30, interval=0.2, what="the server") == b"0"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/user/1.0/kismw365lo7emoxr3ohojgpild6lph4b", method="PUT",
            data=b'{"email": "john@example.com", "password": "password1"}')
        with urllib.request.urlopen(request, timeout=10) as res:
            assert res.read() == b"kismw365lo7emoxr3ohojgpild6lph4b"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_nodes_add_list_set_drain_and_move(tmp_path, make_database, make_user):
    """The operator's node commands on a user database and two node databases (SQLite)."""
    import webtest

    from syncstorage.web.app import make_app
    from syncstorage.infra.config import load_settings

    n1, n2 = "http://n1.test/", "http://n2.test/"
    central = make_database("sqlite", role="users")
    dbs = {n1: make_database("sqlite", role="storage"), n2: make_database("sqlite", role="storage")}
    path = tmp_path / "users.ini"
    path.write_text(f"[storage]\nsqluri = {dbs[n1]}\n[users]\nsqluri = {central}\n"
                    f"node_databases = {n1}={dbs[n1]} {n2}={dbs[n2]}\n[node]\nrole = users\n")
    config = str(path)
    assert run(config, "nodes", "add", n1, "--capacity", "5").returncode == 0
    assert "already exists" in run(config, "nodes", "add", n1, "--capacity", "5").stderr
    assert run(config, "nodes", "add", "http://n2.test", "--capacity", "2").returncode == 0
    changed = run(config, "nodes", "set", n2, "--capacity", "3", "--backoff", "60")
    assert changed.returncode == 0 and " 3 " in changed.stdout and changed.stdout.rstrip().endswith("60")
    assert run(config, "nodes", "set", "http://nowhere.test/", "--capacity", "1").returncode != 0
    assert run(config, "nodes", "set", n2).returncode != 0  # nothing to set

    users_app = make_app(load_settings(config, environ={}))
    node1 = make_app(load_settings(overrides={"storage.sqluri": dbs[n1], "users.sqluri": central,
                                              "node.role": "storage"}, environ={}))
    client = webtest.TestApp(node1)
    accounts = [make_user(client) for _ in range(3)]
    assert run(config, "nodes", "set", n2, "--available", "no").returncode == 0
    for account in accounts:
        assert users_app.services.userdb.assign_node(account).url == n1
        client.authorization = ("Basic", (account.username, "correct horse battery"))
        client.put_json(f"/1.1/{account.username}/storage/bookmarks/b", {"payload": account.username})

    assert run(config, "nodes", "set", n2, "--available", "yes").returncode == 0
    drained = run(config, "nodes", "drain", n1)
    assert drained.returncode == 0 and "takes no new users" in drained.stdout
    listing = run(config, "nodes", "list").stdout.splitlines()
    assert listing[1].split() == [n1, "3", "3", "5", "draining", "-"]
    assert listing[2].split() == [n2, "0", "0", "3", "open", "60"]

    moved = run(config, "nodes", "move-users", n1, n2, "--count", "2", "--settle", "0")
    assert moved.returncode == 0, moved.stderr
    assert "moved 2 users and 2 records" in moved.stdout
    listing = run(config, "nodes", "list").stdout.splitlines()
    assert [line.split()[1] for line in listing[1:]] == ["1", "2"]
    node2 = make_app(load_settings(overrides={"storage.sqluri": dbs[n2], "users.sqluri": central,
                                              "node.role": "storage"}, environ={}))
    for account in accounts[:2]:
        assert node2.services.storage.get_item(account.userid, "bookmarks", "b", 2 * 10**11).payload == account.username
    assert run(config, "nodes", "set", n2, "--down", "yes").returncode == 0
    assert "down" in run(config, "nodes", "list").stdout


def test_hup_applies_an_edited_configuration(tmp_path):
    """Runbook §2: `kill -HUP` on what `serve` started re-reads the ini file in new workers."""
    import signal
    import urllib.request

    config = tmp_path / "node.ini"

    def write(node_url: str, threads: int) -> None:
        config.write_text(f"[storage]\nsqluri = sqlite:///{tmp_path / 'node.db'}\n[node]\nurl = {node_url}\n"
                          f"[server]\nworkers = 1\nthreads = {threads}\n")

    write("https://first.example/", 2)
    assert run(str(config), "migrate").returncode == 0
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "syncstorage.ops.cli", "--config", str(config), "serve"],
                            env={"PORT": str(port), "PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/user/1.0/kismw365lo7emoxr3ohojgpild6lph4b"

    def node() -> bytes:
        with urllib.request.urlopen(base + "/node/weave", timeout=5) as res:
            return res.read()
    try:
        wait_for(lambda: urllib.request.urlopen(base, timeout=2).read(), 30, interval=0.2, what="the server")
        request = urllib.request.Request(base, method="PUT",
                                         data=b'{"email": "john@example.com", "password": "password1"}')
        urllib.request.urlopen(request, timeout=10).read()
        assert node() == b"https://first.example/"

        write("https://second.example/", 3)
        proc.send_signal(signal.SIGHUP)  # `serve` exec'd gunicorn: this is its master
        wait_for(lambda: node() == b"https://second.example/", 30, interval=0.2, what="the new workers")
        assert proc.poll() is None  # the same master, still serving
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0
