"""The ``syncstorage`` command: serve, migrate, user, import, nodes, node-status, purge-ttl, capacity.

Settings come from ``--config`` (or SYNCSTORAGE_CONFIG), then SYNCSTORAGE_*
environment variables; ``PORT`` sets the port of ``serve``.
"""
from __future__ import annotations

import argparse
import json
import getpass
import os
import sys
import time

from syncstorage import __version__
from syncstorage.infra.config import Settings, load_settings
from syncstorage.infra.dbengine import BackendError


def _settings(args) -> Settings:
    overrides = {}
    if os.environ.get("PORT"):
        overrides["server.port"] = os.environ["PORT"]
    return load_settings(args.config, overrides=overrides)


def cmd_serve(args) -> int:
    from syncstorage.ops.server import serve

    settings = _settings(args)  # a bad configuration or an unreachable database: one line, before gunicorn
    _preflight(settings)
    serve(args.config)
    return 0


def _preflight(settings) -> None:
    """The databases answer and hold the schema (what every worker would otherwise find out at once)."""
    from syncstorage.infra.dbengine import create_engine
    from syncstorage.storage.sql import read_shard_count

    _say_database(settings)
    engines = {url: create_engine(url) for url in {settings.storage.sqluri, settings.users.sqluri}}
    try:
        if settings.node.role != "users" and not settings.storage.sqluri.startswith("sqlite"):
            read_shard_count(engines[settings.storage.sqluri])
        for engine in engines.values():
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
    except Exception as error:
        raise BackendError(str(getattr(error, "orig", None) or error)) from error
    finally:
        for engine in engines.values():
            engine.dispose()


def _database_problem(error: Exception) -> str:
    """One line for why a database cannot be used."""
    text = str(getattr(error, "orig", None) or error).splitlines()[0]
    if "Connection refused" in text or "Can't connect" in text:
        return f"cannot connect ({text}); is the server running and the URL's host and port right?"
    if "Access denied" in text:
        return f"the database refused the credentials ({text}); check the URL's user and password"
    if "Unknown database" in text:
        return f"{text}; create it (README, MySQL / MariaDB)"
    return text


def _say_database(settings) -> None:
    """Which database a command acts on, on stderr (so that output stays clean)."""
    where = _safe_url(settings.storage.sqluri)
    if settings.users.sqluri != settings.storage.sqluri:
        where += f", users {_safe_url(settings.users.sqluri)}"
    print(f"syncstorage: using {where}", file=sys.stderr)


def cmd_config(args) -> int:
    """The settings in force (defaults, ini file, environment), passwords hidden."""
    settings = _settings(args)
    values = settings.as_dict()
    for section, keys in values.items():
        for key, value in keys.items():
            if key.endswith("sqluri") and value:
                keys[key] = _safe_url(value)
            elif "secret" in key and value:
                keys[key] = "(set)"
            elif key == "node_databases":
                keys[key] = {node: _safe_url(url) for node, url in value.items()}
    if args.json:
        print(json.dumps(values, default=str))
    else:
        for section, keys in values.items():
            print(f"[{section}]")
            for key, value in keys.items():
                print(f"{key} = {value}")
            print()
    return 0


def _safe_url(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


def cmd_migrate(args) -> int:
    from sqlalchemy import exc

    from syncstorage.services.migrate import migrate

    settings = _settings(args)
    _say_database(settings)
    try:
        migrate(settings)
    except exc.DBAPIError as error:
        raise BackendError(str(error.orig if error.orig is not None else error)) from error
    return 0


def _services(args):
    from syncstorage.services.root import build_services

    settings = _settings(args)
    _say_database(settings)
    return build_services(settings)


def _password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise EOFError("no terminal")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Again: "):
        raise SystemExit("passwords do not match")
    return password


def cmd_user_add(args) -> int:
    from syncstorage.gate.passwords import hash_password, strong_enough
    from syncstorage.users.names import username_from_account, valid_username
    from syncstorage.users.sql import UserExists

    services = _services(args)
    username = args.username or username_from_account(args.email)
    if not valid_username(username):
        raise SystemExit(f"invalid user name {username!r}")
    password = _password(args)
    if not strong_enough(password, username):
        raise SystemExit("password too weak: at least 8 characters, not the user name")
    try:
        user = services.userdb.create_user(username, args.email, hash_password(password))
    except UserExists:
        raise SystemExit(f"user {username} already exists") from None
    print(f"created {user.username} (userid {user.userid})")
    return 0


def _existing_user(services, username):
    user = services.userdb.get_user(username)
    if user is None:
        raise SystemExit(f"no such user {username!r}")
    return user


def cmd_user_delete(args) -> int:
    from syncstorage.services.accounts import delete_account

    services = _services(args)
    user = _existing_user(services, args.username)
    delete_account(services, user)
    print(f"deleted {user.username} and its stored data")
    return 0


def cmd_user_passwd(args) -> int:
    from syncstorage.gate.passwords import hash_password, strong_enough

    services = _services(args)
    user = _existing_user(services, args.username)
    password = _password(args)
    if not strong_enough(password, user.username):
        raise SystemExit("password too weak: at least 8 characters, not the user name")
    services.userdb.set_password(user, hash_password(password))
    print(f"password of {user.username} changed")
    return 0


def cmd_user_email(args) -> int:
    from syncstorage.users.names import valid_email

    services = _services(args)
    user = _existing_user(services, args.username)
    if not valid_email(args.email):
        raise SystemExit(f"invalid e-mail address {args.email!r}")
    services.userdb.set_email(user, args.email)
    print(f"e-mail of {user.username} set to {args.email}")
    return 0


def cmd_import(args) -> int:
    from syncstorage.ops import importing

    return importing.run(_services(args), args.kind, args.source, dry_run=args.dry_run, replace=args.replace,
                         report_file=args.report)


def cmd_purge_ttl(args) -> int:
    """Delete expired records in bounded batches until none is left (or --max-rows)."""
    services = _services(args)
    batch = args.batch_size or services.settings.storage.purge_batch_size
    total = 0
    while args.max_rows is None or total < args.max_rows:
        now = int(time.time() * 100)
        purged = services.storage.purge_expired(now, batch)
        total += purged
        if purged == 0:
            break
        if args.pause:
            time.sleep(args.pause)  # let live traffic through between batches
    print(f"purged {total} expired records")
    return 0


def cmd_node_status(args) -> int:
    """Show or set the operator node state (spec §3.14)."""
    from syncstorage.gate import nodestatus

    services = _services(args)
    status = services.node_status
    if args.value is None:
        print(status._from_database() or "ok")
        return 0
    try:
        value = status.set(args.value)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    effect = nodestatus.parse(value, services.settings.storage.retry_after)
    what = (f"every request is refused with 503 ({effect.refuse})" if effect.refuse else
            f"responses carry X-Weave-Backoff: {effect.backoff}" if effect.backoff is not None else "normal service")
    print(f"node status set to {value}: {what}; every worker applies it within "
          f"{services.settings.node.status_refresh:g} s")
    return 0


def _node(services, url):
    node = services.userdb.nodes.get(url)
    if node is None:
        raise SystemExit(f"no node {url!r} (see `syncstorage nodes list`)")
    return node


def _describe(node, users: int) -> str:
    state = "down" if node.downed else "open" if node.available else "draining"
    backoff = f"{node.backoff}" if node.backoff else "-"
    return f"{node.url:<40} {users:>8} {node.current_load:>8} {node.capacity:>8}  {state:<8} {backoff}"


def cmd_nodes_add(args) -> int:
    from sqlalchemy import exc

    services = _services(args)
    try:
        node = services.userdb.nodes.add(args.url, args.capacity)
    except exc.IntegrityError:
        raise SystemExit(f"syncstorage: node {args.url} already exists") from None
    except ValueError as error:
        raise SystemExit(f"syncstorage: {error}") from None
    print(f"added {node.url} (capacity {node.capacity} users)")
    return 0


def cmd_nodes_remove(args) -> int:
    services = _services(args)
    try:
        services.userdb.nodes.remove(args.url)
    except ValueError as error:
        raise SystemExit(f"syncstorage: {error}") from None
    print(f"removed {args.url}")
    return 0


def cmd_nodes_list(args) -> int:
    services = _services(args)
    counts = services.userdb.nodes.user_counts()
    print(f"{'url':<40} {'users':>8} {'load':>8} {'capacity':>8}  {'state':<8} backoff")
    for node in services.userdb.nodes.all():
        print(_describe(node, counts.get(node.nodeid, 0)))
    return 0


def cmd_nodes_set(args) -> int:
    services = _services(args)
    values = {k: v for k, v in (("capacity", args.capacity), ("available", args.available),
                                ("downed", args.down), ("backoff", args.backoff)) if v is not None}
    if not values:
        raise SystemExit("nothing to set: give --capacity, --available, --down or --backoff")
    _node(services, args.url)
    node = services.userdb.nodes.update(args.url, **values)
    print(_describe(node, services.userdb.nodes.user_counts().get(node.nodeid, 0)))
    return 0


def cmd_nodes_drain(args) -> int:
    services = _services(args)
    _node(services, args.url)
    node = services.userdb.nodes.update(args.url, available=0)
    print(f"{node.url} takes no new users; its {node.current_load} users stay until "
          f"`syncstorage nodes move-users {node.url} OTHER_NODE`")
    return 0


def cmd_nodes_move_users(args) -> int:
    from syncstorage.services.moves import move_users

    services = _services(args)
    source, target = _node(services, args.source), _node(services, args.target)
    settle = services.settings.cache.write_grace if args.settle is None else args.settle
    report = move_users(services, source, target, count=args.count, batch=args.batch_size, settle=settle)
    print(f"moved {report.users} users and {report.records} records from {source.url} to {target.url}"
          + (f"; {len(report.failed)} not moved: {' '.join(report.failed)}" if report.failed else ""))
    return 1 if report.failed else 0


def cmd_capacity(args) -> int:
    """Print the capacity plan (docs/capacity.md) as a table or JSON."""
    import json
    from dataclasses import fields

    from syncstorage.ops.capacity import Inputs, knee_from_result, plan, render

    values = {f.name: getattr(args, f.name) for f in fields(Inputs) if getattr(args, f.name, None) is not None}
    if args.from_result:
        values["knee_sessions"] = knee_from_result(args.from_result)
    try:
        result = plan(Inputs(**values))
    except ValueError as error:
        raise SystemExit(str(error)) from None
    print(json.dumps(result.as_dict(), indent=2) if args.json else render(result))
    return 0


def _flag(value: str) -> int:
    text = value.strip().lower()
    if text in ("1", "yes", "true", "on"):
        return 1
    if text in ("0", "no", "false", "off"):
        return 0
    raise argparse.ArgumentTypeError(f"{value!r} is not yes/no")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syncstorage", description="Firefox Sync 1.0/1.1 storage server")
    parser.add_argument("--config", "-c", default=os.environ.get("SYNCSTORAGE_CONFIG"),
                        help="ini file (default: $SYNCSTORAGE_CONFIG; else built-in defaults)")
    parser.add_argument("--version", action="version", version=f"syncstorage {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("serve", help="serve with gunicorn (gthread workers); HUP reloads settings and code").set_defaults(
        func=cmd_serve)
    config = sub.add_parser("config", help="print the settings in force (passwords hidden)")
    config.add_argument("--json", action="store_true", help="as JSON")
    config.set_defaults(func=cmd_config)
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
    email = user.add_parser("email", help="set an account's e-mail address (where reset codes go)")
    email.add_argument("username")
    email.add_argument("email")
    email.set_defaults(func=cmd_user_email)

    imp = sub.add_parser("import", help="import accounts and records from another Sync 1.1 server "
                                        "(docs/migrating.md)")
    imp_sub = imp.add_subparsers(dest="kind", required=True)
    for kind, what in (("weave-minimal", "weave-minimal's data folder (--data-dir)"),
                       ("fsyncms", "FSyncMS's database URL, e.g. mysql+pymysql://USER:PASS@HOST/fsync "
                                   "or sqlite:////var/www/fsyncms/weave_db")):
        one = imp_sub.add_parser(kind, help=f"from {kind}")
        one.add_argument("source", help=what)
        one.add_argument("--dry-run", action="store_true", help="read and check the source, write nothing")
        one.add_argument("--replace", action="store_true",
                         help="also overwrite accounts that hold data newer than the source's")
        one.add_argument("--report", metavar="FILE",
                         help="write the comparison per account and collection to FILE (tab-separated)")
        one.set_defaults(func=cmd_import)

    nodes = sub.add_parser("nodes", help="storage nodes and user assignment (user database)")
    nodes_sub = nodes.add_subparsers(dest="nodes_command", required=True)
    n_add = nodes_sub.add_parser("add", help="add a storage node")
    n_add.add_argument("url", help="the node URL clients use, e.g. https://sync1.example.com/")
    n_add.add_argument("--capacity", type=int, required=True, help="users the node may carry")
    n_add.set_defaults(func=cmd_nodes_add)
    n_remove = nodes_sub.add_parser("remove", help="forget a node that holds no users")
    n_remove.add_argument("url")
    n_remove.set_defaults(func=cmd_nodes_remove)
    nodes_sub.add_parser("list", help="users, load, capacity and state of every node").set_defaults(
        func=cmd_nodes_list)
    n_set = nodes_sub.add_parser("set", help="change a node's capacity, availability, down flag or backoff")
    n_set.add_argument("url")
    n_set.add_argument("--capacity", type=int, help="users the node may carry")
    n_set.add_argument("--available", type=_flag, metavar="yes|no", help="whether it takes new users")
    n_set.add_argument("--down", type=_flag, metavar="yes|no",
                       help="out of service: its users get 401 there and are reassigned by node/weave")
    n_set.add_argument("--backoff", type=int, metavar="N", help="X-Weave-Backoff seconds its responses carry (0 = none)")
    n_set.set_defaults(func=cmd_nodes_set)
    n_drain = nodes_sub.add_parser("drain", help="take no new users (existing users stay until moved)")
    n_drain.add_argument("url")
    n_drain.set_defaults(func=cmd_nodes_drain)
    n_move = nodes_sub.add_parser("move-users", help="move users and their data to another node, verified")
    n_move.add_argument("source", help="node URL to move users from")
    n_move.add_argument("target", help="node URL to move them to")
    n_move.add_argument("--count", type=int, help="users to move (default: all)")
    n_move.add_argument("--batch-size", type=int, default=100, help="users marked moving at a time")
    n_move.add_argument("--settle", type=float,
                        help="seconds to let in-flight writes finish after marking a batch (default [cache] write_grace)")
    n_move.set_defaults(func=cmd_nodes_move_users)

    node = sub.add_parser("node-status", help="show or set this node's state (ok, backoff[:N], draining, down)")
    node_sub = node.add_subparsers(dest="node_command", required=True)
    node_sub.add_parser("get", help="print the current state").set_defaults(func=cmd_node_status, value=None)
    node_set = node_sub.add_parser("set", help="set the state: ok, backoff, backoff:N, draining, down, unhealthy")
    node_set.add_argument("value")
    node_set.set_defaults(func=cmd_node_status)

    cap = sub.add_parser("capacity", help="nodes, databases, memcached and cores for N users (docs/capacity.md)")
    from dataclasses import MISSING, fields

    from syncstorage.ops.capacity import Inputs

    for f in fields(Inputs):
        default = f.default if f.default is not MISSING else None
        shown = f"{default:,}" if isinstance(default, int) else f"{default:g}"
        cap.add_argument("--" + f.name.replace("_", "-"), type=type(default),
                         help=f"{f.metadata['help']} (default {shown})")
    cap.add_argument("--from-result", metavar="DIR", help="take --knee-sessions from a load-test result (steps.json)")
    cap.add_argument("--json", action="store_true", help="print the plan as JSON")
    cap.set_defaults(func=cmd_capacity)

    purge = sub.add_parser("purge-ttl", help="delete expired records in bounded batches")
    purge.add_argument("--batch-size", type=int, help="rows per batch (default [storage] purge_batch_size)")
    purge.add_argument("--max-rows", type=int, help="stop after about this many rows")
    purge.add_argument("--pause", type=float, default=0.0, help="seconds to sleep between batches")
    purge.set_defaults(func=cmd_purge_ttl)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; what goes wrong is one line on stderr and a non-zero exit
    (``--debug`` shows the traceback instead)."""
    from syncstorage.infra.logs import configure_logging

    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `syncstorage capacity | head`: the reader is gone, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("syncstorage: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except Exception as error:
        if args.debug:
            raise
        code, message = _explain(error, args)
        print(f"syncstorage: {message}", file=sys.stderr)
        return code


def _explain(error: Exception, args) -> tuple[int, str]:
    """(exit code, one line) for an error a command met."""
    if isinstance(error, BackendError):
        return 3, f"database unavailable: {_database_problem(error)}"
    if isinstance(error, FileNotFoundError) and args.config and error.filename == args.config:
        return 2, f"no configuration file {args.config}"
    if isinstance(error, ValueError) and str(error).startswith(("bad value for", "unknown setting")):
        return 2, f"{error}"
    if isinstance(error, EOFError):
        return 2, "no password given (standard input is not a terminal): use --password-stdin"
    return 1, f"unexpected error: {type(error).__name__}: {error} (--debug shows the traceback)"


if __name__ == "__main__":
    sys.exit(main())
