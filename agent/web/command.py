"""`mlops-agent web-user NAME`: add a web user or change one, in the users file.

With a password (asked on the terminal, or `--password-stdin`), or with
`--link`: a one-time sign-in link, written into the service's database (only
its hash) and printed here, once; the running service honours it at once. The
roles: `--approver` (may approve proposals), `--admin` (sees every conversation).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator

from agent.accounts.passwords import PasswordError, hash_password
from agent.accounts.users import AccountsError, WebUser, read_users_file, set_user
from agent.settings import SettingsError, load_settings
from agent.web.sessions import issue_link
from core.sqlite import connect


class WebUserError(Exception):
    """What went wrong, for the command line; nothing was written."""


def web_user(args: argparse.Namespace) -> Iterator[str]:
    """Do what the arguments say; yields the lines to print."""
    try:
        settings = load_settings()
        path = settings.resolved_web_users_file
        existing = read_users_file(path).get(args.name)
    except (SettingsError, AccountsError) as exc:
        raise WebUserError(str(exc)) from None
    known = existing or settings.web_users.get(args.name)
    kept = known.password if known else None  # --link: a link instead; a password stays
    password = kept if args.link else _hash(_ask(args))
    user = WebUser(
        password=password,
        approver=_flag(args.approver, args.no_approver, known.approver if known else False),
        admin=_flag(args.admin, args.no_admin, known.admin if known else False),
    )
    # A user only MLOPS_WEB_USERS names, asked only for a link, stays out of the file.
    changed = existing != user and not (existing is None and known == user)
    if changed:
        try:
            set_user(path, args.name, user)
        except AccountsError as exc:
            raise WebUserError(str(exc)) from None
        role = "approver" if user.approver else "may talk, not approve"
        role += ", admin" if user.admin else ""
        yield f"{'updated' if existing else 'added'} web user {args.name} ({role}) in {path}"
    if args.link:
        base = settings.public_url or f"http://127.0.0.1:{settings.port}"
        conn = connect(settings.state_dir / "service.sqlite")
        try:
            token = issue_link(conn, args.name)
        finally:
            conn.close()
        yield f"one-time sign-in link for {args.name} (works once, for a day):"
        yield f"  {base}/login/once?token={token}"
    if changed:
        yield "restart the service for the change to take effect"


def _ask(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise WebUserError("no terminal to ask for a password: pass --password-stdin (or --link)")
    password = getpass.getpass(f"password for {args.name}: ")
    if password != getpass.getpass("again: "):
        raise WebUserError("the two passwords differ; nothing written")
    return password


def _hash(password: str) -> str:
    try:
        return hash_password(password)
    except PasswordError as exc:
        raise WebUserError(f"{exc}; nothing written") from None


def _flag(yes: bool, no: bool, current: bool) -> bool:
    return True if yes else False if no else current
