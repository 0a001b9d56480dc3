"""The knee finder on step data with a known shape."""
import csv

import pytest

from loadtest.knee import Step, analyse, find_points, split_steps


def step(users, goodput, p95, errors=0.0):
    return Step(users=users, seconds=10, offered_sessions=users, sessions=users, requests=goodput, goodput=goodput,
                p50=p95 / 3, p95=p95, p99=p95 * 2, error_rate=errors, shed_rate=0, backoff_rate=0, session_p95_ms=0)


def test_linear_growth_has_no_knee():
    steps = [step(10, 100, 5), step(20, 200, 5), step(40, 400, 6)]
    assert find_points(steps) == (None, None, None)


def test_knee_is_the_last_step_that_still_scaled():
    steps = [step(10, 100, 5), step(20, 195, 6), step(40, 380, 7), step(80, 420, 40), step(160, 430, 400)]
    knee, inflection, collapse = find_points(steps)
    assert (knee, inflection, collapse) == (2, 3, None)


def test_flat_throughput_without_latency_climb_is_not_a_knee():
    steps = [step(10, 100, 5), step(20, 102, 5)]  # e.g. the load generator, not the server, is the limit
    assert find_points(steps)[0] is None


def test_collapse_by_throughput_and_by_errors():
    assert find_points([step(10, 100, 5), step(20, 200, 5), step(40, 150, 500)])[2] == 2
    assert find_points([step(10, 100, 5), step(20, 200, 5, errors=0.02)])[2] == 1


def write_history(path, rows):
    """rows: (timestamp, users, name, requests this second, failures this second, p50, p95, p99)."""
    fields = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", "50%", "95%", "99%",
              "Total Request Count", "Total Failure Count"]
    total = failed = 0
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        for t, users, name, requests, failures, p50, p95, p99 in rows:
            if name == "Aggregated":
                total, failed = total + requests, failed + failures
            # Requests/s is written deliberately wrong: the analysis must not use Locust's lagging window
            writer.writerow(dict(zip(fields, (t, users, "", name, 12345, 0, p50, p95, p99, total, failed))))


def test_split_steps_drops_settling_seconds_and_reads_sessions(tmp_path):
    rows = [(t, 0, "Aggregated", 0, 0, "N/A", "N/A", "N/A") for t in range(99, 100)]
    rows += [(100 + t, 10, "Aggregated", 1000 if t < 3 else 50, 0, 3, 9, 20) for t in range(10)]
    rows += [(110 + t, 20, "Aggregated", 90, 10 if t >= 3 else 0, 4, 12, 30) for t in range(10)]
    rows += [(120, 20, "info/collections", 1, 0, 1, 1, 1)]  # per-name rows are ignored
    rows += [(120 + t, 7, "Aggregated", 5, 0, 4, 12, 30) for t in range(3)]  # ramp-down at the end
    write_history(tmp_path / "locust_stats_history.csv", rows)
    with open(tmp_path / "sessions.csv", "w") as fh:
        fh.write("timestamp,user_count,sessions,aborted,session_p50_ms,session_p95_ms,shed,backoff\n")
        for t in range(10):
            fh.write(f"{100 + t},10,5,0,10,30,0,0\n{110 + t},20,8,0,10,40,9,1\n")
    summary = analyse(tmp_path, interval=2.0, settle=3)
    first, second = (Step(**s) for s in summary["steps"])  # exactly two steps
    assert (first.users, first.seconds, first.requests, first.offered_sessions, first.sessions) == (10, 7, 50, 5, 5)
    assert second.error_rate == pytest.approx(10 / 90) and second.goodput == pytest.approx(90 - 10 - 9)
    assert second.shed_rate == pytest.approx(9 / 90) and second.p95 == 12
    assert (tmp_path / "knee.png").stat().st_size > 0
    assert split_steps([], {}, 1.0, 3) == []
