"""gunicorn settings for a storage node: ``gunicorn --paste production.ini -c config/gunicorn.conf.py``.

gthread workers: a worker keeps serving its other threads while one waits on
the database, and past the knee they lose far less throughput than sync
workers.  Environment variables override the defaults below.
"""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:" + os.environ.get("PORT", "8000"))
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
worker_class = "gthread"
# more threads than [overload] max_concurrent (8 in production.ini): the excess
# reaches a thread and is refused at once instead of waiting in the accept queue
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
