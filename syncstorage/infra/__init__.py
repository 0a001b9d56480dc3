"""Infrastructure: settings, database engines, memcached, metrics, logs, mail."""
