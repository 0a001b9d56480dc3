"""Load tests and benchmarks: wrk ceilings (ceilings.py); more to come."""
