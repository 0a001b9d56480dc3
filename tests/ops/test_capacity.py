"""The capacity model: its arithmetic by hand, the limiting factor, the knee from a result, the command."""
import json
import subprocess
import sys

import pytest

from syncstorage.ops.capacity import CACHE_BYTES_PER_USER, DISK_PER_RECORD, Inputs, knee_from_result, plan, render


def _values(p):
    return {line.what: line.value for line in p.lines}


def test_cpu_bound_plan_by_hand():
    # tiny data so that CPU decides: 120,000 users, half active, one sync per 60 s, peak x2, 25 % headroom
    p = plan(Inputs(users=120_000, active_fraction=0.5, sync_interval=60, peak_factor=2, headroom=0.25,
                    knee_sessions=250, records_per_user=10, node_disk_gb=1000, node_ram_gb=64))
    v = _values(p)
    assert v["active users"] == 60_000
    assert v["mean sessions/s"] == 1_000
    assert v["peak sessions/s"] == 2_000
    assert v["sessions/s to provision"] == 2_500
    assert v["nodes for CPU"] == 10 and p.nodes == 10 and p.limited_by.startswith("CPU")
    assert v["node capacity (nodes add --capacity)"] == 15_000  # 120,000 x 1.25 / 10
    assert v["sessions/s per node at peak"] == 200
    assert v["MySQL servers"] == 22
    assert v["memcached memory"] == pytest.approx(60_000 * CACHE_BYTES_PER_USER / 1e9 * 1.25)
    assert v["cores"] == 20


def test_disk_and_ram_can_decide():
    base = dict(users=1_000_000, active_fraction=0.1, sync_interval=600, knee_sessions=1000)
    disk = plan(Inputs(**base, records_per_user=2000, node_disk_gb=100, disk_fill=0.5, node_ram_gb=1000))
    expected_disk = 1_000_000 * 2000 * DISK_PER_RECORD / 1e9 * 1.25
    assert _values(disk)["data on disk"] == pytest.approx(expected_disk)
    assert disk.limited_by == "disk" and disk.nodes == -(-expected_disk // 50)
    ram = plan(Inputs(**base, records_per_user=2000, hot_fraction=0.5, node_disk_gb=100_000, node_ram_gb=10,
                      buffer_pool_share=0.5))
    hot = 100_000 * 2000 * 0.5 * DISK_PER_RECORD / 1e9 * 1.25
    assert ram.limited_by == "RAM (hot set)" and ram.nodes == -(-hot // 5)


def test_more_headroom_or_activity_never_needs_fewer_nodes():
    for active in (0.1, 0.25, 0.5):
        by_headroom = [plan(Inputs(active_fraction=active, headroom=h)).nodes for h in (0.0, 0.25, 0.5)]
        assert by_headroom == sorted(by_headroom)
    by_activity = [plan(Inputs(active_fraction=a, hot_fraction=0.5)).nodes for a in (0.1, 0.25, 0.5, 1.0)]
    assert by_activity == sorted(by_activity) and by_activity[0] < by_activity[-1]


def test_bad_inputs_are_refused():
    for bad in (dict(active_fraction=0), dict(active_fraction=1.5), dict(sync_interval=0), dict(knee_sessions=0)):
        with pytest.raises(ValueError):
            plan(Inputs(**bad))


def test_knee_is_read_from_a_load_test_result(tmp_path):
    (tmp_path / "steps.json").write_text(json.dumps({"knee": 1, "steps": [{"sessions": 60.0}, {"sessions": 118.5}]}))
    assert knee_from_result(tmp_path) == 118.5
    (tmp_path / "steps.json").write_text(json.dumps({"knee": None, "steps": [{"sessions": 60.0}]}))
    with pytest.raises(ValueError):
        knee_from_result(tmp_path)


def test_command_prints_the_table_and_json(tmp_path):
    run = [sys.executable, "-m", "syncstorage.ops.cli", "capacity", "--users", "500000", "--active-fraction", "0.1"]
    table = subprocess.run(run, capture_output=True, text=True, timeout=60, check=True).stdout
    assert "storage nodes" in table and "limited by" in table
    data = json.loads(subprocess.run(run + ["--json"], capture_output=True, text=True, timeout=60, check=True).stdout)
    assert data["inputs"]["users"] == 500000 and data["nodes"] == plan(Inputs(users=500000, active_fraction=0.1)).nodes
    assert render(plan(Inputs())).splitlines()[0].startswith("quantity")
