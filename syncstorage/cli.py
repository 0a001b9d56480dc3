"""The ``syncstorage`` command: serve, migrate, user, purge-ttl.

Settings come from ``--config`` (or SYNCSTORAGE_CONFIG), then SYNCSTORAGE_*
environment variables; ``PORT`` sets the port of ``serve``.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys
import time

from . import __version__
from .config import Settings, load_settings
from .dbengine import BackendError


def _settings(args) -> Settings:
    overrides = {}
    if os.environ.get("PORT"):
        overrides["server.port"] = os.environ["PORT"]
    return load_settings(args.config, overrides=overrides)


def cmd_serve(args) -> int:
    from .server import serve

    settings = _settings(args)
    serve(settings, config_path=args.config)
    return 0


def cmd_migrate(args) -> int:
    from .migrate import migrate

    migrate(_settings(args))
    return 0


def _app(args):
    from .app import make_app

    return make_app(_settings(args))


def _password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Again: "):
        raise SystemExit("passwords do not match")
    return password


def cmd_user_add(args) -> int:
    from .passwords import hash_password, strong_enough
    from .users.names import username_from_account, valid_username
    from .users.sql import UserExists

    app = _app(args)
    username = args.username or username_from_account(args.email)
    if not valid_username(username):
        raise SystemExit(f"invalid user name {username!r}")
    password = _password(args)
    if not strong_enough(password, username):
        raise SystemExit("password too weak: at least 8 characters, not the user name")
    try:
        user = app.userdb.create_user(username, args.email, hash_password(password))
    except UserExists:
        raise SystemExit(f"user {username} already exists") from None
    print(f"created {user.username} (userid {user.userid})")
    return 0


def _existing_user(app, username):
    user = app.userdb.get_user(username)
    if user is None:
        raise SystemExit(f"no such user {username!r}")
    return user


def cmd_user_delete(args) -> int:
    app = _app(args)
    user = _existing_user(app, args.username)
    app.storage.delete_storage(user.userid)
    app.userdb.delete_user(user)
    print(f"deleted {user.username} and its stored data")
    return 0


def cmd_user_passwd(args) -> int:
    from .passwords import hash_password, strong_enough

    app = _app(args)
    user = _existing_user(app, args.username)
    password = _password(args)
    if not strong_enough(password, user.username):
        raise SystemExit("password too weak: at least 8 characters, not the user name")
    app.userdb.set_password(user, hash_password(password))
    print(f"password of {user.username} changed")
    return 0


def cmd_purge_ttl(args) -> int:
    """Delete expired records in bounded batches until none is left (or --max-rows)."""
    app = _app(args)
    batch = args.batch_size or app.settings.storage.purge_batch_size
    total = 0
    while args.max_rows is None or total < args.max_rows:
        now = int(time.time() * 100)
        purged = app.storage.purge_expired(now, batch)
        total += purged
        if purged == 0:
            break
        if args.pause:
            time.sleep(args.pause)  # let live traffic through between batches
    print(f"purged {total} expired records")
    return 0


def cmd_node_status(args) -> int:
    """Show or set the operator node state (spec §3.14)."""
    from . import nodestatus

    app = _app(args)
    status = app.node_status
    if args.value is None:
        print(status._from_database() or "ok")
        return 0
    try:
        value = status.set(args.value)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    effect = nodestatus.parse(value, app.settings.storage.retry_after)
    what = (f"every request is refused with 503 ({effect.refuse})" if effect.refuse else
            f"responses carry X-Weave-Backoff: {effect.backoff}" if effect.backoff is not None else "normal service")
    print(f"node status set to {value}: {what}; every worker applies it within "
          f"{app.settings.node.status_refresh:g} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syncstorage", description="Firefox Sync 1.0/1.1 storage server")
    parser.add_argument("--config", "-c", default=os.environ.get("SYNCSTORAGE_CONFIG"),
                        help="ini file (default: $SYNCSTORAGE_CONFIG; else built-in defaults)")
    parser.add_argument("--version", action="version", version=f"syncstorage {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("serve", help="serve with gunicorn (gthread workers)").set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="create or upgrade the database schemas").set_defaults(func=cmd_migrate)

    user = sub.add_parser("user", help="manage accounts").add_subparsers(dest="user_command", required=True)
    add = user.add_parser("add", help="create an account")
    add.add_argument("email")
    add.add_argument("--username", help="default: derived from the e-mail as clients do")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_user_add)
    delete = user.add_parser("delete", help="delete an account and its data")
    delete.add_argument("username")
    delete.set_defaults(func=cmd_user_delete)
    passwd = user.add_parser("passwd", help="set an account's password")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd.set_defaults(func=cmd_user_passwd)

    node = sub.add_parser("node-status", help="show or set this node's state (ok, backoff[:N], draining, down)")
    node_sub = node.add_subparsers(dest="node_command", required=True)
    node_sub.add_parser("get", help="print the current state").set_defaults(func=cmd_node_status, value=None)
    node_set = node_sub.add_parser("set", help="set the state: ok, backoff, backoff:N, draining, down, unhealthy")
    node_set.add_argument("value")
    node_set.set_defaults(func=cmd_node_status)

    purge = sub.add_parser("purge-ttl", help="delete expired records in bounded batches")
    purge.add_argument("--batch-size", type=int, help="rows per batch (default [storage] purge_batch_size)")
    purge.add_argument("--max-rows", type=int, help="stop after about this many rows")
    purge.add_argument("--pause", type=float, default=0.0, help="seconds to sleep between batches")
    purge.set_defaults(func=cmd_purge_ttl)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .logs import configure_logging

    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BackendError as error:
        print(f"syncstorage: database unavailable: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
