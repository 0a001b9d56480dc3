"""The overload report's arithmetic: share of the best goodput so far, verdicts, server-side times."""
import json
import math

from loadtest.overload import figures, server_side, verdict


def _step(users, goodput, p99, shed_p99=float("nan"), timeouts=0):
    return {"users": users, "goodput": goodput, "admitted_p99_ms": p99, "timeouts": timeouts, "shed_rate": 0.1,
            "shed_p99_ms": shed_p99, "shed_max_ms": shed_p99, "backoff_rate": 0.0, "error_rate": 0.0}


def test_share_is_against_the_best_step_so_far_and_verdicts_name_the_misses():
    rows = figures({"steps": [_step(64, 100, 10), _step(128, 200, 20), _step(256, 150, 900, 20),
                              _step(512, 190, 1200, 80, timeouts=3)]}, knee_users=128)
    assert [r["x_knee"] for r in rows] == [0.5, 1, 2, 4]
    assert [round(r["goodput_share"], 2) for r in rows] == [1.0, 1.0, 0.75, 0.95]
    assert verdict(rows[2]) == "misses goodput"
    assert verdict(rows[3]) == "misses p99, time-outs, 503 latency"
    assert verdict(figures({"steps": [_step(256, 10, 5)]}, 128)[0]) == "meets all"


def test_server_side_times_come_from_the_json_request_log(tmp_path):
    log = tmp_path / "server.log"
    lines = [{"route": "info_collections", "status": 503, "ms": 0.5},
             {"route": "info_collections", "status": 200, "ms": 5.0},
             {"route": "heartbeat", "status": 200, "ms": 99.0}]
    log.write_text("[gunicorn] booting\n" + "\n".join(json.dumps(x) for x in lines) + "\n")
    figures_ = server_side(log)
    assert (figures_["shed"], figures_["admitted"], figures_["shed_max_ms"], figures_["admitted_p99_ms"]) == \
        (1, 1, 0.5, 5.0)
    assert math.isnan(server_side(tmp_path / "missing.log")["shed_p99_ms"])
