"""Load tests and benchmarks: wrk ceilings against the stack floors (ceilings.py), the
in-process hot path (hotpath.py), stepped sync sessions (run.py), overload (overload.py)
and cache sizing (cachesize.py)."""
