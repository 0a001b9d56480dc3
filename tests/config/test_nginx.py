"""config/nginx.conf is a configuration nginx accepts."""
import shutil
import subprocess
from pathlib import Path

import pytest

from ..conftest import REQUIRE_SERVICES

CONFIG = Path(__file__).resolve().parents[2] / "config" / "nginx.conf"


def nginx_binary():
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if not found:
        if REQUIRE_SERVICES:
            pytest.fail("nginx is not installed (apt-get install nginx-light)")
        pytest.skip("nginx is not installed")
    return found


def test_nginx_accepts_the_configuration(tmp_path):
    result = subprocess.run([nginx_binary(), "-t", "-c", str(CONFIG), "-p", str(tmp_path), "-e", "stderr"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_body_limit_admits_the_largest_valid_post():
    from syncstorage.infra.config import load_settings
    from syncstorage.wire.wbo import MAX_PAYLOAD_BYTES

    text = CONFIG.read_text()
    limit_mb = int(text.split("client_max_body_size", 1)[1].split("m;", 1)[0])
    largest = load_settings(environ={}).storage.batch_max_count * (MAX_PAYLOAD_BYTES + 1024)
    assert limit_mb * 1024 * 1024 >= largest


def test_unreachable_or_full_upstream_is_a_fast_503_with_retry_after(tmp_path):
    """nginx answers for gunicorn when it cannot take the request (here: nothing listens)."""
    import urllib.error
    import urllib.request

    from loadtest.servers import start_nginx, stop
    from loadtest.services import free_port

    nginx_binary()
    port = free_port()
    proc = start_nginx(port, free_port(), 4, tmp_path / "nginx")
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/1.1/someone/info/collections", timeout=10)
        error = refused.value
        assert error.code == 503
        assert error.headers["Retry-After"] == "60" and error.headers["X-Weave-Backoff"] == "60"
        assert error.read() == b'"server issue: overloaded or unavailable"'
    finally:
        stop(proc)


def test_nginx_accepts_the_tls_site(tmp_path):
    """config/nginx-tls.conf as a site in an http{} context, with a certificate of the test's own."""
    site = (CONFIG.parent / "nginx-tls.conf").read_text()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=sync.example.com", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    site = site.replace("/etc/letsencrypt/live/sync.example.com/fullchain.pem", str(cert)).replace(
        "/etc/letsencrypt/live/sync.example.com/privkey.pem", str(key))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n"
                                         f"include {tmp_path}/site.conf;\n}}\n")
    result = subprocess.run([nginx_binary(), "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path),
                             "-e", "stderr"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
