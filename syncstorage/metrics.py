"""Metrics (prometheus_client): what the cache and the request path are doing."""
from prometheus_client import Counter

CACHE_REQUESTS = Counter("syncstorage_cache_requests_total", "Cache lookups by kind and result (hit, miss, error)",
                         ["kind", "result"])
CACHE_ERRORS = Counter("syncstorage_cache_errors_total", "memcached operations that failed", ["operation"])
CACHE_EPOCH_BUMPS = Counter("syncstorage_cache_epoch_bumps_total",
                            "Times this process voided all entries after a memcached outage")
