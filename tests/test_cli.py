"""The ``syncstorage`` command, run as a user would run it."""
import subprocess
import sys

import pytest

from syncstorage.cli import build_parser
from syncstorage.devservices import free_port, wait_for

from .conftest import SHARDS


@pytest.fixture
def config(tmp_path, backend_url):
    path = tmp_path / "cli.ini"
    path.write_text(f"[storage]\nsqluri = {backend_url}\nshards = {SHARDS}\n[node]\nurl = http://node/\n")
    return str(path)


def run(config, *args, stdin=None):
    return subprocess.run([sys.executable, "-m", "syncstorage.cli", "--config", config, *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_user_add_passwd_delete(config):
    import uuid
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    added = run(config, "user", "add", email, "--password-stdin", stdin="first-password\n")
    assert added.returncode == 0, added.stderr
    name = added.stdout.split()[1]
    assert run(config, "user", "add", email, "--password-stdin", stdin="first-password\n").returncode != 0
    assert run(config, "user", "passwd", name, "--password-stdin", stdin="short\n").returncode != 0
    assert run(config, "user", "passwd", name, "--password-stdin", stdin="second-password\n").returncode == 0
    from syncstorage.app import make_app
    from syncstorage.config import load_settings
    app = make_app(load_settings(config, environ={}))
    assert app.authenticator.check_password(app.userdb.get_user(name), "second-password")
    assert run(config, "user", "delete", name).returncode == 0
    assert app.userdb.get_user(name) is None
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
    storage = testapp.app.storage
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
    proc = subprocess.Popen([sys.executable, "-m", "syncstorage.cli", "--config", str(config), "serve"], env=env,
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
