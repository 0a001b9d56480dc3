"""loadtest.abuse measures what it says, on a real gunicorn (and nginx)."""
from loadtest.abuse import measure_body, measure_guessing

from ..config.test_nginx import nginx_binary


def test_a_large_unauthenticated_body_is_refused_without_growing_the_worker(tmp_path):
    result = measure_body(8, tmp_path)
    assert result["answer"].startswith("HTTP/1.1 413")
    assert result["growth_kb"] < 4096  # the 8 MB were never buffered


def test_guessing_through_nginx_leaves_the_owner_syncing(tmp_path):
    nginx_binary()
    result = measure_guessing(50, tmp_path)
    assert set(result["owner_during_burst"]) <= {200} and result["owner_new_device_after"] == 200
    assert result["attacker"].get(503, 0) > 0 and set(result["attacker"]) <= {401, 503}
