"""``syncstorage serve``: the application under gunicorn with gthread workers."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gunicorn.app.base import BaseApplication

from syncstorage.infra.config import Settings


class SyncServer(BaseApplication):
    def __init__(self, settings: Settings, config_path: str | None = None):
        self.settings = settings
        self.config_path = config_path
        super().__init__()

    def load_config(self):
        s = self.settings.server
        options = {
            "bind": f"{s.host}:{s.port}",
            "workers": s.workers,
            "worker_class": "gthread",
            "threads": s.threads,
            "timeout": s.timeout,
            "graceful_timeout": 30,
            "keepalive": 5,
            "accesslog": "-",
            "errorlog": "-",
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        from syncstorage.web.app import make_app
        from syncstorage.infra.logs import configure_logging

        configure_logging()
        return make_app(self.settings)


def serve(settings: Settings, config_path: str | None = None) -> None:
    # Workers are processes: their metrics meet in a shared folder, emptied at start.
    metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="syncstorage-metrics-"))
    for stale in Path(metrics_dir).glob("*.db"):
        stale.unlink()
    SyncServer(settings, config_path).run()
