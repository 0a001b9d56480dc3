"""The ceilings table: ratios to the trivial app, and where the CPU went when it was accounted."""
from loadtest import ceilings


def run(rps, **extra):
    return {"rps": rps, "p50": "1ms", "p99": "2ms", "non2xx": 0, "requests": rps * 10, **extra}


def test_table_gives_ratios_to_the_trivial_app():
    lines = ceilings.table({ceilings.TRIVIAL: run(8000), ceilings.INFO: run(4000), ceilings.POST: run(200)})
    assert "| GET info/collections | 4000 | 0.50 | 1ms | 2ms | 0 |" in lines
    assert lines[-1].endswith("Records written per second by POST: 20000.")
    assert "CPU" not in lines[0]


def test_table_adds_cpu_columns_when_every_run_was_accounted():
    accounted = {"server_cpu_us": 400.0, "server_switches": 9.46, "shared_cpu_us": 50.0}
    lines = ceilings.table({ceilings.TRIVIAL: run(8000, **accounted), ceilings.FLOOR: run(6000, **accounted),
                            ceilings.INFO: run(4000, **accounted), ceilings.POST: run(200, **accounted)})
    assert "server CPU µs/request" in lines[0]
    assert f"| {ceilings.FLOOR} | 6000 | 0.75 | 1ms | 2ms | 0 | 400 | 9.5 | 50 |" in lines


def test_server_records_are_set_beside_the_raw_database_and_the_floor():
    runs = {ceilings.TRIVIAL: run(8000), ceilings.FLOOR_CACHE: run(2000), ceilings.INFO: run(1700),
            ceilings.POST: run(60), ceilings.GET: run(150)}
    lines = ceilings.against_raw(runs, {ceilings.RAW_UPSERT: 24000.0, ceilings.RAW_UPSERT_LITERALS: 30000.0,
                                        ceilings.RAW_READ: 60000.0})
    assert f"| {ceilings.POST} (records/s) | 6,000 | 24,000 ({ceilings.RAW_UPSERT}) | 0.25 |" in lines
    assert f"| {ceilings.POST} (records/s) | 6,000 | 30,000 ({ceilings.RAW_UPSERT_LITERALS}) | 0.20 |" in lines
    assert f"| {ceilings.GET} (records/s) | 15,000 | 60,000 ({ceilings.RAW_READ}) | 0.25 |" in lines
    assert f"| cached {ceilings.INFO} (requests/s) | 1,700 | 2,000 ({ceilings.FLOOR_CACHE}) | 0.85 |" in lines


def test_the_app_in_process_splits_the_gap_between_the_database_and_the_server():
    runs = {ceilings.TRIVIAL: run(8000), ceilings.POST: run(60), ceilings.GET: run(150)}
    lines = ceilings.against_raw(runs, {ceilings.RAW_UPSERT: 24000.0, ceilings.RAW_READ: 60000.0,
                                        ceilings.INPROCESS_POST: 12000.0, ceilings.INPROCESS_GET: 30000.0})
    assert f"| {ceilings.GET} (records/s) | 15,000 | 30,000 ({ceilings.INPROCESS_GET}) | 0.50 |" in lines
    assert f"| {ceilings.POST} (records/s) | 6,000 | 12,000 ({ceilings.INPROCESS_POST}) | 0.50 |" in lines
    assert f"| {ceilings.INPROCESS_GET} (records/s) | 30,000 | 60,000 ({ceilings.RAW_READ}) | 0.50 |" in lines
    assert f"| {ceilings.INPROCESS_POST} (records/s) | 12,000 | 24,000 ({ceilings.RAW_UPSERT}) | 0.50 |" in lines


def test_alternated_pairs_run_in_abba_order_and_cancel_a_steady_drift():
    calls = []

    def measure(name, rps):
        def run():
            calls.append(name)
            return rps * (1 - 0.05 * len(calls))  # the machine slows down steadily during the pairs
        return run
    pairs = ceilings.alternated(measure("floor", 1000), measure("server", 850), 4)
    assert calls == ["floor", "server", "server", "floor"] * 2
    # each pair alone is off by the drift, in turn each way; over all pairs the true 0.85 comes back
    assert ceilings.pairs_line("info", "floor", pairs, 2) == (
        "info / floor, 4 alternated pairs of 2 s (ABBA): 0.81 0.90 0.79 0.92; median 0.85, over all pairs 0.85")
