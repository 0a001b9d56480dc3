"""Every setting of the server, in one table, with its type and default.

Values come from, in increasing priority: the defaults below, an ini file
(PasteDeploy-style, sections named after the first column), then environment
variables ``SYNCSTORAGE_<SECTION>_<KEY>`` (upper case).  ``%(here)s`` in the ini
file expands to the file's directory.  A misspelt key in one of our sections is
an error, not a silently ignored line.
"""
from __future__ import annotations

import configparser
import difflib
import os
import types
from dataclasses import dataclass
from typing import Any, Callable, Mapping

ENV_PREFIX = "SYNCSTORAGE_"


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def as_list(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [part for part in str(value).replace(",", " ").split() if part]


def as_choice(*choices: str) -> Callable[[Any], str]:
    def coerce(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return text
    return coerce


def as_url_map(value: Any) -> dict[str, str]:
    """Whitespace-separated ``KEY=VALUE`` entries (split at the first ``=``)."""
    if isinstance(value, dict):
        return dict(value)
    entries = {}
    for entry in str(value).split():
        key, sep, target = entry.partition("=")
        if not sep or not key or not target:
            raise ValueError(f"{entry!r} is not KEY=VALUE")
        entries[key] = target
    return entries


def as_optional_str(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def at_least(minimum, kind: Callable[[Any], Any] = int) -> Callable[[Any], Any]:
    """``kind`` (int or float) no smaller than ``minimum``."""
    def coerce(value: Any):
        number = kind(value)
        if number < minimum:
            raise ValueError(f"{number} is below the minimum {minimum}")
        return number
    coerce.__name__ = f"{kind.__name__} >= {minimum}"
    return coerce


def port(value: Any) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise ValueError(f"{number} is not a TCP port")
    return number


# SYNCSTORAGE_* variables that are not settings: the ini file, the commit, the test switches
OTHER_VARIABLES = frozenset({"SYNCSTORAGE_CONFIG", "SYNCSTORAGE_COMMIT", "SYNCSTORAGE_REQUIRE_SERVICES",
                             "SYNCSTORAGE_UNIT_ONLY"})


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    coerce: Callable[[Any], Any]
    default: Any
    doc: str

    @property
    def env_name(self) -> str:
        return f"{ENV_PREFIX}{self.section}_{self.key}".upper()


SETTINGS: tuple[Setting, ...] = (
    # [storage] -- the node's record store
    Setting("storage", "sqluri", str, "sqlite:///var/syncstorage.db",
            "SQLAlchemy URL of the storage database (sqlite:///path or mysql+pymysql://...); the default, "
            "var/syncstorage.db under the current directory, is what `make serve` serves from a checkout"),
    Setting("storage", "shards", at_least(1), 1,
            "number of wbo tables for a NEW database; fixed by `migrate` and read back from the database"),
    Setting("storage", "quota_kb", at_least(0), 0, "per-user quota in KB; 0 disables quota"),
    Setting("storage", "batch_max_count", at_least(1), 100, "items accepted per POST; the rest fail 'retry wbo'"),
    Setting("storage", "batch_max_bytes", at_least(1), 1048576,
            "payload bytes accepted per POST; items past it fail 'retry bytes'"),
    Setting("storage", "max_body_bytes", at_least(1024), 28311552,
            "largest PUT/POST body read (27 MiB: 100 records of 256 KiB plus JSON); larger ones get 413 unread"),
    Setting("storage", "retry_after", at_least(0), 1800, "Retry-After / X-Weave-Backoff seconds sent with 503s"),
    Setting("storage", "pool_size", at_least(1), 8, "database connections kept per worker (MySQL)"),
    Setting("storage", "pool_max_overflow", at_least(0), 4, "extra connections a worker may open under load (MySQL)"),
    Setting("storage", "pool_timeout", at_least(0.001, float), 5.0, "seconds a request waits for a database connection"),
    Setting("storage", "sqlite_busy_timeout", at_least(0.0, float), 10.0, "seconds SQLite waits for the write lock"),
    Setting("storage", "connect_timeout", at_least(0.1, float), 3.0,
            "seconds to open a MySQL connection; past it the request gets 503 (a dead or unreachable server)"),
    Setting("storage", "read_timeout", at_least(1.0, float), 30.0,
            "seconds a MySQL statement may take; past it the connection is dropped and the request gets 503 "
            "(a hung server): keep it above the longest legitimate statement and innodb_lock_wait_timeout"),
    Setting("storage", "purge_batch_size", at_least(1), 1000, "expired rows removed per batch by purge-ttl"),
    # [users] -- accounts (User API 1.0) and authentication
    Setting("users", "sqluri", as_optional_str, None, "user database URL; empty = same as [storage] sqluri"),
    Setting("users", "strict_usernames", as_bool, True,
            "account names must be the hash of the account e-mail (spec 5.2)"),
    Setting("users", "captcha", as_bool, False, "require a captcha answer to create accounts and reset passwords"),
    Setting("users", "captcha_protocol", as_choice("siteverify", "recaptcha-v1"), "siteverify",
            "siteverify: reCAPTCHA v2, hCaptcha or Turnstile (set the three URLs below to the provider's); "
            "recaptcha-v1: the original protocol"),
    Setting("users", "captcha_public_key", str, "", "the provider's site key (shown in captcha_html)"),
    Setting("users", "captcha_secret", str, "", "the provider's secret key, used to verify answers"),
    Setting("users", "captcha_verify_url", str, "https://www.google.com/recaptcha/api/siteverify",
            "verification endpoint (hCaptcha: https://api.hcaptcha.com/siteverify, Turnstile: "
            "https://challenges.cloudflare.com/turnstile/v0/siteverify)"),
    Setting("users", "captcha_script_url", str, "https://www.google.com/recaptcha/api.js",
            "the widget's script (hCaptcha: https://js.hcaptcha.com/1/api.js, Turnstile: "
            "https://challenges.cloudflare.com/turnstile/v0/api.js)"),
    Setting("users", "captcha_widget_class", str, "g-recaptcha",
            "the widget element's class (hCaptcha: h-captcha, Turnstile: cf-turnstile)"),
    Setting("users", "captcha_timeout", at_least(0.001, float), 5.0, "seconds to wait for the captcha verifier"),
    Setting("users", "shared_secret", str, "", "X-Weave-Secret value that bypasses the captcha; empty = no bypass"),
    Setting("users", "public_url", str, "",
            "public base URL of the User API (https://sync.example.com); password-reset mails link to its "
            "/weave-password-reset page; empty = mails carry the code only. Never taken from the request"),
    Setting("users", "reset_code_ttl", at_least(60), 21600, "seconds a password reset code stays valid"),
    Setting("users", "max_body_bytes", at_least(1024), 16384,
            "largest User API or reset-form body read (account creation needs no more); larger ones get 413 unread"),
    Setting("users", "auth_cache_size", at_least(0), 10000, "verified credentials remembered per worker"),
    Setting("users", "node_databases", as_url_map, {},
            "storage database of each node, as NODE_URL=SQLURI entries separated by white space: used to delete "
            "an account's data and by `nodes move-users`"),
    # [cache] -- memcached in front of info/*, quota, users and node lookups
    Setting("cache", "servers", as_list, [], "memcached host:port list (consistent hashing); empty = no memcached"),
    Setting("cache", "prefix", str, "syncstorage:", "prefix of every key (to share a memcached cluster)"),
    Setting("cache", "timeout", at_least(0.001, float), 0.25, "seconds to wait for memcached before falling back to SQL"),
    Setting("cache", "ttl", at_least(1), 86400, "seconds an entry may live at most"),
    Setting("cache", "credentials_secret", str, "",
            "secret keying verified credentials shared by all workers in memcached, so the password KDF runs "
            "once per credential change; empty = each worker remembers its own"),
    Setting("cache", "write_grace", at_least(0.0, float), 10.0,
            "seconds an announced write blocks refills (longer than any write transaction)"),
    # [overload] -- admission control and load-aware backoff, per worker
    Setting("overload", "max_concurrent", at_least(0), 0,
            "requests a worker serves at once; more are refused with 503 at once (0 = no bound)"),
    Setting("overload", "soft_fraction", at_least(0.0, float), 0.75,
            "share of max_concurrent in flight from which responses carry X-Weave-Backoff"),
    Setting("overload", "backoff_min", at_least(0), 60, "X-Weave-Backoff seconds at the soft threshold"),
    Setting("overload", "backoff_max", at_least(0), 1800, "X-Weave-Backoff seconds at the hard limit"),
    Setting("overload", "shed_retry_after", at_least(0), 60, "Retry-After / X-Weave-Backoff seconds on a shed request"),
    Setting("overload", "db_latency_soft", at_least(0.0, float), 0.1,
            "recent mean SQL statement seconds from which responses carry X-Weave-Backoff (max at 4x; 0 = off)"),
    Setting("overload", "queue_soft", at_least(0.0, float), 0.25,
            "recent mean seconds requests waited before a worker took them (X-Request-Start) from which responses "
            "carry X-Weave-Backoff (max at 4x; 0 = off)"),
    Setting("overload", "max_queue_wait", at_least(0.0, float), 0.0,
            "a request that waited longer than this before a worker took it is refused with 503 at once (0 = off)"),
    # [abuse] -- failed-login limits (password guessing must not burn the KDF's CPU)
    Setting("abuse", "account_failures", at_least(0), 10,
            "failed logins per account from one client address and window before that address gets 503 "
            "instead of the KDF (0 = no limit)"),
    Setting("abuse", "address_failures", at_least(0), 50,
            "failed logins per client address and window, any account, before it gets 503 (0 = no limit)"),
    Setting("abuse", "account_total_failures", at_least(0), 100,
            "failed logins per account from all addresses and window before addresses it never logged in "
            "from get 503 (0 = no limit)"),
    Setting("abuse", "known_address_ttl", at_least(1), 30 * 86400,
            "seconds an address stays known to an account after a good login"),
    Setting("abuse", "window", at_least(1), 300, "seconds a failed-login count lasts"),
    Setting("abuse", "reset_mails_per_account", at_least(0), 3, "password-reset mails per account and reset window"),
    Setting("abuse", "reset_mails_per_address", at_least(0), 20,
            "password-reset mails requested per client address and reset window"),
    Setting("abuse", "reset_code_failures", at_least(0), 20,
            "wrong reset codes per account, and per address, and reset window before further tries get 503"),
    Setting("abuse", "reset_window", at_least(1), 3600, "seconds a reset-mail or reset-code count lasts"),
    # [metrics] -- /__metrics__
    Setting("metrics", "trusted", as_list, ["127.0.0.1/32", "::1/128"],
            "addresses (CIDR) allowed to read /__metrics__; others get 404"),
    # [node] -- this node's identity
    Setting("node", "url", str, "",
            "URL returned by node/weave; 'auto' = the URL the request came in on (single node); empty = null"),
    Setting("node", "status_refresh", at_least(0.0, float), 2.0,
            "seconds a worker keeps the operator-set node state (and the nodes table) before reading it again"),
    Setting("node", "role", as_choice("both", "storage", "users"), "both",
            "what this server answers: the storage API, the user API, or both (the embedded default)"),
    Setting("node", "check", as_bool, False,
            "storage requests of users assigned to another node (or whose node is downed) get 401 (spec 5.4); "
            "[node] url must name this node as in the nodes table"),
    Setting("node", "moving_retry_after", at_least(0), 120,
            "Retry-After seconds for storage requests of a user whose data is being moved to another node"),
    # [smtp] -- outgoing mail for password reset codes
    Setting("smtp", "host", str, "localhost", "SMTP server host"),
    Setting("smtp", "port", port, 25, "SMTP server port"),
    Setting("smtp", "sender", str, "Firefox Sync <sync@localhost>", "From: address of reset mails"),
    Setting("smtp", "security", as_choice("none", "starttls", "ssl"), "none",
            "none (plain SMTP, e.g. a local relay), starttls (upgrade on the port, usually 587) or ssl (implicit "
            "TLS, usually 465); certificates are verified"),
    Setting("smtp", "username", str, "", "login name at the SMTP server; empty = no login"),
    Setting("smtp", "password", str, "", "SMTP password (keep it in the environment: SYNCSTORAGE_SMTP_PASSWORD)"),
    Setting("smtp", "timeout", at_least(0.001, float), 10.0, "seconds to wait for the SMTP server"),
    # [server] -- `syncstorage serve` (gunicorn)
    Setting("server", "host", str, "127.0.0.1", "address to listen on"),
    Setting("server", "port", port, 8000, "port to listen on (the PORT environment variable also sets it)"),
    Setting("server", "workers", at_least(1), 2, "gunicorn worker processes"),
    Setting("server", "threads", at_least(1), 8, "threads per gthread worker"),
    Setting("server", "timeout", at_least(1), 60, "seconds before a silent worker is restarted"),
    Setting("server", "trusted_proxies", as_list, [],
            "addresses (CIDR) of the reverse proxies in front of the app; X-Forwarded-For (the client address "
            "of abuse limits and /__metrics__) and X-Request-Start (queue time) are believed only from them"),
    Setting("server", "switch_interval", at_least(0.0, float), 0.0,
            "seconds a worker thread may hold the GIL before another gets it (sys.setswitchinterval); shorter "
            "lets quick answers (503s, cache hits) overtake long requests; 0 = Python's default (0.005)"),
)

_BY_NAME = {(s.section, s.key): s for s in SETTINGS}
SECTIONS = tuple(dict.fromkeys(s.section for s in SETTINGS))


class Section(types.SimpleNamespace):
    """One section's values, read as attributes; assigning one is an error."""

    def __setattr__(self, name, value):
        raise AttributeError("settings are read-only; build a new Settings")


class Settings:
    """Typed settings, read as ``settings.storage.sqluri``; immutable once built."""

    def __init__(self, values: Mapping[tuple[str, str], Any], source: str | None = None):
        object.__setattr__(self, "source", source)
        values = dict(values)
        if values.get(("users", "sqluri")) is None:
            values[("users", "sqluri")] = values.get(("storage", "sqluri"))
        for section in SECTIONS:
            object.__setattr__(self, section, Section(**{k: v for (s, k), v in values.items() if s == section}))

    def __setattr__(self, name, value):
        raise AttributeError("settings are read-only; build a new Settings")

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {section: dict(vars(getattr(self, section))) for section in SECTIONS}


def _lookup(section: str, key: str) -> Setting:
    try:
        return _BY_NAME[(section, key)]
    except KeyError:
        raise ValueError(f"unknown setting [{section}] {key}") from None


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    try:
        return setting.coerce(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad value for [{setting.section}] {setting.key} from {origin}: {exc}") from None


def read_ini(path: str) -> dict[tuple[str, str], str]:
    """Raw (section, key) -> text for our sections of an ini file."""
    parser = configparser.ConfigParser(defaults={"here": os.path.dirname(os.path.abspath(path))})
    with open(path, encoding="utf-8") as fh:
        parser.read_file(fh)
    raw = {}
    for section in parser.sections():
        if section not in SECTIONS:
            continue  # [app:main], [server:main], logging sections belong to others
        for key, value in parser.items(section):
            if key == "here":
                continue
            _lookup(section, key)
            raw[(section, key)] = value
    return raw


def load_settings(path: str | None = None, overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from defaults, then ``path``, then the environment, then ``overrides``.

    ``overrides`` keys are ``"section.key"`` (used by tests and by the CLI).
    """
    environ = os.environ if environ is None else environ
    raw: dict[tuple[str, str], tuple[Any, str]] = {}
    if path:
        for name, value in read_ini(path).items():
            raw[name] = (value, path)
    known_env = {s.env_name: s for s in SETTINGS}
    for env_name, value in environ.items():
        if env_name in known_env:
            s = known_env[env_name]
            raw[(s.section, s.key)] = (value, env_name)
        elif env_name.startswith(ENV_PREFIX) and env_name not in OTHER_VARIABLES:
            close = difflib.get_close_matches(env_name, list(known_env), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"unknown setting {env_name} in the environment{hint}")
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        _lookup(section, key)
        raw[(section, key)] = (value, "override")
    values = {}
    for s in SETTINGS:
        if (s.section, s.key) in raw:
            value, origin = raw[(s.section, s.key)]
            values[(s.section, s.key)] = _coerce(s, value, origin)
        else:
            values[(s.section, s.key)] = s.default
    _check_together(values)
    return Settings(values, path)


def _check_together(values: Mapping[tuple[str, str], Any]) -> None:
    """Settings that only make sense together; ValueError naming them."""
    if values[("users", "captcha")] and not (values[("users", "captcha_public_key")]
                                             and values[("users", "captcha_secret")]):
        raise ValueError("bad value for [users] captcha: it is on, but captcha_public_key or captcha_secret is "
                         "empty (nobody could sign up)")
    if values[("smtp", "username")] and values[("smtp", "security")] == "none":
        raise ValueError("bad value for [smtp] security: a login ([smtp] username) needs starttls or ssl")
