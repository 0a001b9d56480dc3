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
    from syncstorage.config import load_settings
    from syncstorage.wbo import MAX_PAYLOAD_BYTES

    text = CONFIG.read_text()
    limit_mb = int(text.split("client_max_body_size", 1)[1].split("m;", 1)[0])
    largest = load_settings(environ={}).storage.batch_max_count * (MAX_PAYLOAD_BYTES + 1024)
    assert limit_mb * 1024 * 1024 >= largest
