"""The `exitflow` command: each command calls services, nothing else."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from workflow import clock


def _create_app(*_args, **_kwargs):
    from workflow import create_app

    return create_app()


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False
)
def main() -> None:
    """exitflow: the poverty-exit procedures (贫困退出)."""


def fail(message: str) -> None:
    """Exit non-zero with a one-line reason."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from flask_migrate import upgrade

    upgrade()
    from workflow.services import key_events

    if key_events.record_keys_in_use(clock.now()):
        click.echo("keys in use recorded in the audit record (new or changed)")
    click.echo("database schema is up to date")


@click.command("seed-demo")
@click.option(
    "--households",
    default=None,
    type=click.IntRange(1, 2_000_000),
    help="households (default 200; 1,000,000 with --province)",
)
@click.option("--password", default=None, help="password of every demo user")
@click.option("--advance-to", "advance_to", default=None, help="drive the households to STATE")
@click.option("--if-empty", is_flag=True, help="do nothing when the demo county exists")
@click.option("--province", is_flag=True, help="a synthetic province instead of one county")
@click.option(
    "--counties",
    default=110,
    show_default=True,
    type=click.IntRange(1, 999),
    help="counties of the province (with --province)",
)
@with_appcontext
def seed_demo(
    households: int | None,
    password: str | None,
    advance_to: str | None,
    if_empty: bool,
    province: bool,
    counties: int,
) -> None:
    """Load the demo county (or with --province a whole province): regions, users, households."""
    from workflow.services import demo

    password = password or demo.DEMO_PASSWORD
    if province:
        _seed_province(counties, households or 1_000_000, password, advance_to)
        _refresh_statistics()
        return
    households = households or 200
    if demo.exists():
        if if_empty or not advance_to:
            click.echo("the demo county is already loaded; nothing added")
            _print_logins(None, password)
            return
    else:
        logins = demo.seed(households, password, clock.now())
        click.echo(f"demo county loaded: {households} households")
        _print_logins(logins, password)
    if advance_to:
        with click.progressbar(length=len(demo.ORDER), label="advancing", file=sys.stderr) as bar:

            def step(state: str, n: int) -> None:
                bar.update(1)
                click.echo(f"  {state}: {n}", err=True)

            try:
                counts = demo.advance(advance_to, step)
            except ValueError as err:
                fail(str(err))
        click.echo("cases by state: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    _refresh_statistics()


def _refresh_statistics() -> None:
    """The dashboards' figures as of now (the scheduler keeps them fresh afterwards)."""
    from workflow.services import statistics

    result = statistics.refresh(clock.now())
    click.echo(f"statistics refreshed: {result['rows']} rows in {result['seconds']:.1f} s")


def _seed_province(counties: int, households: int, password: str, state: str | None) -> None:
    import time

    from workflow.errors import ExitflowError
    from workflow.services import province

    started = time.monotonic()
    with click.progressbar(length=households, label="loading the province", file=sys.stderr) as bar:

        def step(what: str, n: int) -> None:
            if what != "regions":
                bar.update(n)

        try:
            logins = province.seed(counties, households, password, clock.now(), state, step)
        except ExitflowError as err:
            fail(err.detail)
    click.echo(
        f"province loaded: {counties} counties, {households} households "
        f"in {time.monotonic() - started:.0f} s"
    )
    names = [
        "admin",
        "county1",
        f"county{counties}",
        "village1",
        "township1",
        "city1",
        "province1",
        "evaluator1",
    ]
    click.echo(f"logins (password {password}): " + ", ".join(n for n in names if n in logins))


def _print_logins(logins: dict | None, password: str) -> None:
    names = [
        "admin",
        "village1",
        "township1",
        "township2",
        "township3",
        "county1",
        "city1",
        "province1",
        "evaluator1",
    ]
    click.echo(f"demo logins (password: {password}): {', '.join(names)}")


@click.command("create-user")
@click.argument("name")
@click.option("--role", required=True)
@click.option("--region", default=None)
@click.option("--password", default=None)
@click.option("--display-name", default=None)
@with_appcontext
def create_user(name, role, region, password, display_name) -> None:
    """Create a user (every role but admin needs --region)."""
    from workflow.errors import ExitflowError
    from workflow.services import users

    if role not in ("admin", "auditor") and not region:
        fail("--region is required for every role but admin and auditor")
    if password is None:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        from workflow.services.actors import SYSTEM

        # The operator at the console: audited as the system's act.
        user = users.create(name, password, role, region, display_name, clock.now(), actor=SYSTEM)
    except ExitflowError as err:
        fail(f"{err.detail} {err.extra.get('errors', '')}".strip())
    click.echo(f"user {user.username} created ({user.role}, {user.region_code or '-'})")


@click.command("sweep")
@click.option("--dry-run", is_flag=True, help="only count the due windows")
@with_appcontext
def sweep(dry_run: bool) -> None:
    """Close every publicity window due by now and advance its cases (idempotent)."""
    from workflow.services import publicity

    result = publicity.sweep(clock.now(), dry_run=dry_run)
    verb = "due" if dry_run else "closed"
    click.echo(
        f"{result['due'] if dry_run else result['closed']} window(s) {verb}, "
        f"{result['cases_advanced']} case(s) advanced"
    )
    if result["errors"]:
        fail(f"{len(result['errors'])} window(s) failed: {result['errors'][0]['error']}")


@click.command("verify-audit")
@click.option("--full", is_flag=True, help="from genesis, not from the last verified checkpoint")
@click.option("--workers", type=int, default=None, help="processes (default: every core)")
@with_appcontext
def verify_audit(full: bool, workers: int | None) -> None:
    """Check the audit chains; exit 1 with the first bad record when broken."""
    from workflow.services import audit

    result = audit.verify(full=full, workers=workers)
    if not result.ok:
        where = f" ({result.chain})" if result.chain else ""
        fail(f"audit chain broken{where} after {result.checked} good record(s): {result.problem}")
    scope = "from genesis" if full else "since the last verified checkpoint"
    click.echo(
        f"audit chain intact: {result.checked} record(s) checked {scope} in "
        f"{result.chains} chain(s); checkpoint {result.checkpoint} {result.checkpoint_hash}"
    )


@click.command("doctor")
@with_appcontext
def doctor() -> None:
    """Check what the machine and configuration must provide; exit 1 if any check fails."""
    from workflow.services import doctor as checks

    results = checks.run(clock.now())
    marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
    for check in results:
        click.echo(f"{marks[check.status]} {check.name}: {check.detail}")
    if any(c.status == "fail" for c in results):
        sys.exit(1)


@click.command("scheduler")
@click.option("--status", "show_status", is_flag=True, help="show its health and exit")
@with_appcontext
def scheduler(show_status: bool) -> None:
    """Run the scheduler in the foreground (one per deployment)."""
    if show_status:
        from workflow.services import deadlines

        info = deadlines.status(clock.now())
        for job, run in sorted(info["runs"].items()):
            click.echo(f"last {job}: {run['last_run_at']} {run['result']}")
        if not info["runs"]:
            click.echo("the scheduler has not run yet")
        window = info["next_window"]
        click.echo(
            f"next window to close: {window['code']} at {window['closes_at']}"
            if window
            else "no open publicity window"
        )
        click.echo(f"overdue cases: {info['overdue_cases']}")
        for problem in info["problems"]:
            click.echo(f"problem: {problem}")
        return
    from workflow.scheduler import run_forever

    run_forever(current_app._get_current_object())


@click.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@with_appcontext
def serve(host: str, port: int) -> None:
    """Serve the web app (single process; embeds the scheduler when so configured)."""
    from workflow.scheduler import start_embedded

    app = current_app._get_current_object()
    if app.config["EXITFLOW_SCHEDULER"] == "embedded":
        start_embedded(app)
    click.echo(f"exitflow on http://{host}:{port}")
    # Flask's app.run() refuses to start under its own CLI: serve with werkzeug directly.
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True, use_reloader=False)


@click.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def backup(target: str) -> None:
    """Write an online backup of the SQLite database to TARGET (PostgreSQL: pg_dump)."""
    from pathlib import Path

    from workflow.errors import ExitflowError
    from workflow.services import backup as backups

    with click.progressbar(length=100, label="backup", file=sys.stderr) as bar:

        def step(done, total):
            bar.update(int(done * 100 / max(total, 1)) - bar.pos)

        try:
            pages = backups.backup(Path(target), step)
        except ExitflowError as err:
            fail(err.detail)
    click.echo(f"backup written to {target} ({pages} pages)")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@with_appcontext
def restore(source: str, yes: bool) -> None:
    """Replace the SQLite database with a backup, then check the audit chain."""
    from pathlib import Path

    from workflow.errors import ExitflowError
    from workflow.services import audit
    from workflow.services import backup as backups

    if not yes and not click.confirm("replace the current database with this backup?"):
        fail("restore cancelled")
    try:
        pages = backups.restore(Path(source))
    except ExitflowError as err:
        fail(err.detail)
    result = audit.verify(full=True)
    if not result.ok:
        fail(f"restored, but the audit chain is broken: {result.problem}")
    click.echo(
        f"restored from {source} ({pages} pages); audit chain intact: {result.checked} record(s)"
    )


@click.command("import-households")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--user", "username", default=None, help="act as this user (default: operator)")
@with_appcontext
def import_households(file: str, username: str | None) -> None:
    """Import households from CSV or XLSX: all rows or none; errors name row and column."""
    from pathlib import Path

    from sqlalchemy import select

    from workflow.errors import ExitflowError
    from workflow.extensions import db
    from workflow.models import User
    from workflow.services import imports
    from workflow.services.actors import Actor, from_user

    if username:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            fail(f"no user {username}")
        who = from_user(user)
    else:  # the operator at the server's console, over the whole database
        who = Actor(id=None, username="console", role="county", display_name="控制台导入")
    path = Path(file)
    with click.progressbar(length=100, label="importing", file=sys.stderr) as bar:

        def step(done, total):
            bar.update(int(done * 100 / max(total, 1)) - bar.pos)

        try:
            count = imports.import_households(who, path.name, path.read_bytes(), clock.now(), step)
        except ExitflowError as err:
            for problem in err.extra.get("errors", [])[:50]:
                click.echo(
                    f"row {problem['row']}, {problem['column']}: {problem['message']}", err=True
                )
            fail(err.detail)
    click.echo(f"imported {count} household(s)")


COMMANDS = [
    import_households,
    backup,
    restore,
    init_db,
    seed_demo,
    create_user,
    sweep,
    verify_audit,
    doctor,
    scheduler,
    serve,
]


def register_commands(app) -> None:
    """Attach the commands to the app (`flask --app wsgi …` and `exitflow …`)."""
    for command in COMMANDS:
        app.cli.add_command(command)
