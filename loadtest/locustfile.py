"""A Firefox Sync 1.1 client as a Locust user: whole sync sessions at a fixed pace.

Each simulated user owns an account and runs one sync session per
``--sync-interval`` seconds (constant pacing; 300 s reproduces the historic
"one sync every ~5 minutes").  A session follows spec §7.3 with the historic
mix of Mozilla's load tests: info/collections every time, meta/global in 60 %,
0-4 collection downloads (71/15/7/4/3 %) as ``?newer=<lastSync>&full=1`` with
``Accept: application/newlines``, 0-4 uploads (67/18/9/4/2 %), and a collection
delete in 1 % of sessions.  New accounts (``--new-account-fraction``) first do
Firefox's fresh start and upload a realistic initial data set.

Backoff is honoured as Firefox does: ``X-Weave-Backoff: N`` on any response
postpones the next session by N s (the running one continues); a 503 with
``Retry-After`` ends the session and postpones the next.  Expected statuses
are successes with their own stats names: ``... (404)`` for an empty
meta/global, ``... (412)``, ``shed (503)``.  Sessions, sheds and backoffs per
second go to ``$SYNCSTORAGE_SESSION_LOG`` (loadtest/sessionlog.py).

Accounts: existing accounts come from loadtest/datagen.py (``lt%08d``, one
shared password); new ones are created through the User API.
"""
from __future__ import annotations

import base64
import json
import random
import time
import uuid

import gevent
from locust import FastHttpUser, LoadTestShape, events, task

from loadtest import profiles
from loadtest.sessionlog import SessionLog

GET_COUNTS = ([0, 1, 2, 3, 4], [71, 15, 7, 4, 3])
POST_COUNTS = ([0, 1, 2, 3, 4], [67, 18, 9, 4, 2])
ENGINES = ("bookmarks", "history", "forms", "passwords", "prefs", "tabs", "clients", "addons")
DESKTOP_LIMITS = {"history": 5000}

session_log: SessionLog | None = None


@events.init_command_line_parser.add_listener
def _options(parser):
    group = parser.add_argument_group("sync client model")
    group.add_argument("--sync-interval", type=float, default=300.0, help="seconds between a user's sessions")
    group.add_argument("--accounts", type=int, default=0, help="accounts made by datagen (lt00000000 ...)")
    group.add_argument("--account-offset", type=int, default=0, help="first datagen account to use")
    group.add_argument("--account-password", default=profiles.PASSWORD)
    group.add_argument("--new-account-fraction", type=float, default=0.0,
                       help="share of simulated users that create a new account and do a first sync")
    group.add_argument("--records-per-post", type=int, default=10, help="records per upload (historic: 10)")
    group.add_argument("--max-backoff", type=float, default=0.0,
                       help="cap on honoured backoff in seconds (0 = honour it all, as Firefox does)")
    group.add_argument("--shared-secret", default="", help="X-Weave-Secret for account creation past a captcha")
    # the step shape (used only when this file's StepLoad shape is active)
    group.add_argument("--step-start", type=int, default=10, help="users in the first step")
    group.add_argument("--step-factor", type=float, default=2.0, help="users grow by this factor per step")
    group.add_argument("--step-count", type=int, default=6)
    group.add_argument("--step-seconds", type=float, default=60.0, help="how long each step lasts")


@events.test_start.add_listener
def _start(environment, **_kw):
    global session_log
    session_log = SessionLog.from_environment(environment)


@events.test_stop.add_listener
def _stop(environment, **_kw):
    if session_log:
        session_log.close()


class SyncClient(FastHttpUser):
    """One Firefox profile syncing one account."""

    # a client's patience: a request unanswered after this long counts as a time-out
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self):
        opts = self.environment.parsed_options
        self.interval = opts.sync_interval
        self.backoff_until = 0.0
        self.session_started = time.time()
        self.last_sync: dict[str, float] = {}
        self.records_per_post = opts.records_per_post
        self.max_backoff = opts.max_backoff
        self.new_account = opts.accounts == 0 or random.random() < opts.new_account_fraction
        if self.new_account:
            self.username, self.password = self._create_account(opts.shared_secret)
        else:
            index = opts.account_offset + random.randrange(opts.accounts)
            self.username, self.password = profiles.account_name(index), opts.account_password
            # an existing profile last synced between 1 and 100 hours ago (historic model)
            since = time.time() - random.uniform(3600, 360000)
            self.last_sync = {engine: since for engine in ENGINES}
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.root = f"/1.1/{self.username}"
        # spread the first sessions over one interval, as real profiles are
        gevent.sleep(random.uniform(0, min(self.interval, 5.0)))

    # -- pacing and backoff ----------------------------------------------------
    def wait_time(self):
        now = time.time()
        wait = max(0.0, self.interval - (now - self.session_started))
        return max(wait, self.backoff_until - now)

    def _note_backoff(self, seconds: float) -> None:
        if self.max_backoff:
            seconds = min(seconds, self.max_backoff)
        self.backoff_until = max(self.backoff_until, time.time() + seconds)

    def _request(self, method: str, path: str, name: str, expected=(200,), **kw):
        """One request; returns the response, or None when the session must stop (503)."""
        headers = {**self.headers, **kw.pop("headers", {})}
        with self.client.request(method, self.root + path, name=name, headers=headers, catch_response=True,
                                 **kw) as res:
            if not res.status_code:  # no answer at all: time-out or refused connection
                session_log.count("timeouts")
            else:
                session_log.latency(res.request_meta["response_time"], shed=res.status_code == 503)
            backoff = res.headers.get("X-Weave-Backoff") if res.headers else None
            if backoff:
                self._note_backoff(float(backoff))
                session_log.count("backoff")
            if res.status_code == 503 and res.headers and res.headers.get("Retry-After"):
                self._note_backoff(float(res.headers["Retry-After"]))
                res.request_meta["name"] = "shed (503)"
                session_log.count("shed")
                res.success()
                return None
            if res.status_code in expected:
                if res.status_code != 200:
                    res.request_meta["name"] = f"{name} ({res.status_code})"
                res.success()
                return res
            res.failure(f"{res.status_code}: {res.text[:200] if res.text else ''}")
            return None

    # -- accounts --------------------------------------------------------------
    def _create_account(self, shared_secret: str) -> tuple[str, str]:
        email = f"new-{uuid.uuid4().hex[:16]}@loadtest.example.com"
        from syncstorage.users.names import username_from_account
        name, password = username_from_account(email), profiles.PASSWORD
        headers = {"X-Weave-Secret": shared_secret} if shared_secret else {}
        self.client.put(f"/user/1.0/{name}", json.dumps({"email": email, "password": password}),
                        headers=headers, name="create account")
        return name, password

    # -- the session -------------------------------------------------------------
    @task
    def sync(self):
        self.session_started = time.time()
        completed = self._session()
        session_log.session(time.time() - self.session_started, completed)

    def _session(self) -> bool:
        res = self._request("GET", "/info/collections", "info/collections")
        if res is None:
            return False
        collections = res.json()
        if "meta" not in collections:
            return self._first_sync()
        if random.random() < 0.6:
            if self._request("GET", "/storage/meta/global", "GET meta/global", expected=(200, 404)) is None:
                return False
        changed = [c for c in ENGINES if collections.get(c, 0) > self.last_sync.get(c, 0)] or list(ENGINES)
        for engine in random.sample(changed, min(len(changed), random.choices(*GET_COUNTS)[0])):
            if not self._download(engine):
                return False
        for _ in range(random.choices(*POST_COUNTS)[0]):
            engine = random.choice(ENGINES[:5])
            if not self._upload(engine, profiles.records(engine, self.records_per_post)):
                return False
        if random.random() < 0.01:
            engine = random.choice(ENGINES)
            if self._request("DELETE", f"/storage/{engine}", "DELETE collection", expected=(200, 412)) is None:
                return False
            self.last_sync.pop(engine, None)
        return True

    def _download(self, engine: str) -> bool:
        params = {"full": "1"}
        if engine in self.last_sync:
            params["newer"] = f"{self.last_sync[engine]:.2f}"
        if engine == "bookmarks":
            params["sort"] = "index"
        if engine in DESKTOP_LIMITS:
            params["limit"] = str(DESKTOP_LIMITS[engine])
        query = "&".join(f"{k}={v}" for k, v in params.items())
        res = self._request("GET", f"/storage/{engine}?{query}", "GET collection",
                            headers={"Accept": "application/newlines"})
        if res is None:
            return False
        newest = self.last_sync.get(engine, 0.0)
        for line in (res.content or b"").splitlines():
            newest = max(newest, json.loads(line)["modified"])
        self.last_sync[engine] = newest
        return True

    def _upload(self, engine: str, records: list[dict]) -> bool:
        for start in range(0, len(records), 100):
            res = self._request("POST", f"/storage/{engine}", "POST collection",
                                data=json.dumps(records[start:start + 100]),
                                headers={"Content-Type": "text/plain"})
            if res is None:
                return False
            self.last_sync[engine] = float(res.headers["X-Weave-Timestamp"])
        return True

    def _first_sync(self) -> bool:
        """Firefox's fresh start on an empty server, then the initial upload (spec §7.2)."""
        if self._request("GET", "/storage/meta/global", "GET meta/global", expected=(200, 404)) is None:
            return False
        if self._request("DELETE", "/storage", "DELETE storage", headers={"X-Confirm-Delete": "1"}) is None:
            return False
        meta = {"id": "global", "payload": json.dumps({"syncID": uuid.uuid4().hex[:12], "storageVersion": 5,
                                                        "engines": {}, "declined": []})}
        if self._request("PUT", "/storage/meta/global", "PUT meta/global", data=json.dumps(meta)) is None:
            return False
        keys = {"id": "keys", "payload": profiles.payload(400)}
        if self._request("PUT", "/storage/crypto/keys", "PUT crypto/keys", data=json.dumps(keys)) is None:
            return False
        if self._request("GET", "/info/collections", "info/collections") is None:
            return False
        for engine, records in profiles.initial_data_set().items():
            if not self._upload(engine, records):
                return False
        return True


class StepLoad(LoadTestShape):
    """Users stepped geometrically: start, start*factor, ... each step held for step-seconds.

    Active only when selected (``locust ... StepLoad`` or the only shape in the file).
    """

    def tick(self):
        opts = self.runner.environment.parsed_options
        step = int(self.get_run_time() // opts.step_seconds)
        if step >= opts.step_count:
            return None
        users = max(1, round(opts.step_start * opts.step_factor ** step))
        return users, max(users, 50)
