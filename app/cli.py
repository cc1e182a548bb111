"""`flask --app app ...` commands: organisations, the anchoring worker, verification, set-up."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.bills.errors import BillValidationError
from app.bills.times import utc_iso
from app.bills.verification import format_result
from app.extensions import db
from app.models import ChainJob, JobKind, JobStatus, Organisation, OrgKind, OrgStatus, Registry, utcnow
from app.outbox.worker import AnchorWorker
from app.runtime import runtime
from app.services.admissions import approve_admission, receive_admission, request_admission
from app.services.delivery import DeliveryWorker
from app.services.errors import ServiceError
from app.services.imports import create_job, run_job
from app.services.organisations import onboard_organisation, revoke_organisation, rotate_key
from app.services.provisioning import ensure_finance, ensure_registry, upgrade_database, upgrade_registry
from app.services.sealing import ensure_seal_key, published_seal_key
from app.services.verification import verify_any

orgs = AppGroup("orgs", help="Onboard, list and revoke organisations.")
bills_cli = AppGroup("bills", help="Verify and import bills.")
registry_cli = AppGroup("registry", help="The registry this platform uses: show it, upgrade v1 to v2.")


@orgs.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice([OrgKind.ISSUER, OrgKind.CLAIMANT]), required=True)
@click.option("--credit-code", required=True, help="18-character unified social credit code")
@click.option("--username", help="also create a web login for the organisation")
@click.option("--password", help="its password (default: a random one, printed)")
@click.option("--wait/--no-wait", default=True, help="wait until the chain confirms the registration")
def orgs_add(name: str, kind: str, credit_code: str, username: str | None, password: str | None, wait: bool) -> None:
    """Onboard an organisation: key in the keystore, registration on chain, API token."""
    try:
        done = onboard_organisation(name, credit_code, kind, actor="cli", username=username, password=password)
    except ServiceError as exc:
        raise click.ClickException(f"{exc.field or 'error'}: {exc.message}") from exc
    org = done.organisation
    click.echo(f"organisation: {org.name} ({org.kind}), id {org.id}")
    click.echo(f"address:      {org.address}")
    click.echo(f"api token:    {done.token}   (shown once; store it now)")
    if done.username:
        click.echo(f"login:        {done.username} / {done.password}")
    if wait:
        _wait_for_status(org.id, OrgStatus.ACTIVE)


@orgs.command("request-admission")
@click.option("--name", required=True)
@click.option("--kind", type=click.Choice([OrgKind.ISSUER, OrgKind.CLAIMANT]), required=True)
@click.option("--credit-code", required=True, help="18-character unified social credit code")
@click.option("--username", help="also create a web login for the organisation")
@click.option("--password", help="its password (default: a random one, printed)")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True, help="where to write the request")
def orgs_request_admission(
    name: str, kind: str, credit_code: str, username: str | None, password: str | None, out_path: str
) -> None:
    """On a member platform (registry v2): make the organisation's key and the admission request it signs, for
    the finance department (`orgs admit` there). It becomes active here once the chain registers it."""
    try:
        done, admission = request_admission(name, credit_code, kind, "cli", username, password)
    except ServiceError as exc:
        raise click.ClickException(f"{exc.field or 'error'}: {exc.message}") from exc
    Path(out_path).write_text(admission.to_json() + "\n", encoding="utf-8")
    org = done.organisation
    click.echo(f"organisation: {org.name} ({org.kind}), id {org.id}, waiting for admission")
    click.echo(f"address:      {org.address}")
    click.echo(f"request:      {out_path}  (send it to the finance department)")
    click.echo(f"api token:    {done.token}   (shown once; store it now)")
    if done.username:
        click.echo(f"login:        {done.username} / {done.password}")


@orgs.command("admit")
@click.argument("request_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--approve/--no-approve", default=True, help="register it on chain at once (default) or only list it")
def orgs_admit(request_file: str, approve: bool) -> None:
    """On the finance department's platform: receive a member platform's admission request (and approve it)."""
    try:
        data = json.loads(Path(request_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{request_file}: not a JSON admission request ({exc})") from exc
    try:
        record = receive_admission(data, actor="cli")
        click.echo(f"received:     #{record.id} {record.name} ({record.kind}) key {record.account}")
        if approve:
            job = approve_admission(record.id, actor="cli")
            click.echo(f"approved:     registration queued on chain (job {job.id})")
    except ServiceError as exc:
        raise click.ClickException(f"{exc.field or 'error'}: {exc.message}") from exc
    except BillValidationError as exc:
        raise click.ClickException("; ".join(f"{e.field}: {e.message}" for e in exc.errors)) from exc


@orgs.command("rotate-key")
@click.argument("credit_code")
def orgs_rotate_key(credit_code: str) -> None:
    """Move an organisation to a new key (registry v2); its earlier bills keep verifying as it."""
    org = db.session.scalar(select(Organisation).where(Organisation.credit_code == credit_code))
    if org is None:
        raise click.ClickException(f"credit_code: no organisation {credit_code} on this platform")
    try:
        job = rotate_key(org, actor="cli")
    except ServiceError as exc:
        raise click.ClickException(f"{exc.field or 'error'}: {exc.message}") from exc
    click.echo(f"rotation queued (job {job.id}): new key {job.args[0][1]}")


@orgs.command("revoke")
@click.argument("credit_code")
def orgs_revoke(credit_code: str) -> None:
    """Revoke an organisation: bills it anchored before now still verify."""
    org = db.session.scalar(select(Organisation).where(Organisation.credit_code == credit_code))
    if org is None:
        raise click.ClickException(f"credit_code: no organisation with credit code {credit_code}")
    revoke_organisation(org, actor="cli")
    _wait_for_status(org.id, OrgStatus.REVOKED)


@orgs.command("seal-key")
@click.argument("credit_code")
def orgs_seal_key(credit_code: str) -> None:
    """Show an issuer's SM2 seal key, making and publishing it first if the organisation has none yet."""
    org = db.session.scalar(select(Organisation).where(Organisation.credit_code == credit_code.strip().upper()))
    if org is None:
        raise click.ClickException(f"credit_code: no organisation with credit code {credit_code}")
    try:
        ensure_seal_key(org)
        published = published_seal_key(org.credit_code)
    except ServiceError as exc:
        raise click.ClickException(f"{exc.field or exc.code}: {exc.message}") from exc
    click.echo(f"organisation: {published['name']} ({published['credit_code']}), {published['address']}")
    click.echo(f"seal key:     {published['algorithm']} {published['public_key']}")


@orgs.command("list")
def orgs_list() -> None:
    for org in db.session.scalars(select(Organisation).order_by(Organisation.id)):
        click.echo(f"{org.id:>4}  {org.kind:<9} {org.status:<11} {org.credit_code}  {org.address}  {org.name}")


@orgs.command("init-finance")
@click.option("--name", default="财政局 Finance Department")
@click.option("--credit-code", default="11110000000000001R")
@click.option("--username", default="finance")
@click.option("--password", default=None)
def orgs_init_finance(name: str, credit_code: str, username: str, password: str | None) -> None:
    """Record the finance department (the registry admin, key from BILLCHAIN_ADMIN_KEY) and its login."""
    login = ensure_finance(name, credit_code, username, password)
    if login:
        click.echo(f"finance login: {login[0]} / {login[1]}")
    else:
        click.echo("finance department already recorded")


def _wait_for_status(org_id: int, status: str, timeout: float = 60) -> None:
    """Run worker rounds here until the chain confirmed (the CLI may run without a server)."""
    worker = AnchorWorker(current_app._get_current_object())  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            db.session.expire_all()
            org = db.session.get(Organisation, org_id)
            if org is not None and org.status == status:
                click.echo(f"status:       {status} on chain")
                return
            report = worker.run_once()
            if report.chain_down:
                click.echo("the chain is unreachable: the change stays queued and is sent when it is back", err=True)
                return
            time.sleep(0.2)
        click.echo("not confirmed yet: the change stays queued; the worker will finish it", err=True)
    finally:
        worker.release_lease()


@bills_cli.command("verify")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="print the answer as JSON for programs")
def bills_verify(source: str, as_json: bool) -> None:
    """Verify a bill file, a QR photo or a verify URL; exit 0 only if the bill is authentic."""
    path = Path(source)
    payload: Any = source
    if path.exists():
        raw = path.read_bytes()
        payload = raw if path.suffix.lower() != ".json" else raw.decode("utf-8")
    result = verify_any(payload)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(format_result(result))
    sys.exit(0 if result.authentic else 1)


@click.command("anchor-worker")
@click.option("--once", is_flag=True, help="run one round and exit")
def anchor_worker(once: bool) -> None:
    """Anchor pending bills and send queued transactions until stopped (Ctrl-C)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    worker = AnchorWorker(app)
    if once:
        report = worker.run_once()
        DeliveryWorker(app).run_once()
        click.echo(json.dumps(report.__dict__))
        return
    signal.signal(signal.SIGTERM, lambda *_: worker.stop(timeout=0))
    click.echo(f"anchor worker {worker.holder} started at {utc_iso(utcnow())}")
    delivery = DeliveryWorker(app).start()  # bills to payers ride along with the worker process
    with contextlib.suppress(KeyboardInterrupt):
        worker.run_forever()
    delivery.stop()
    click.echo("anchor worker stopped")


@click.command("deploy")
def deploy_registry() -> None:
    """Deploy the registry on BILLCHAIN_RPC_URL with BILLCHAIN_ADMIN_KEY and record it."""
    deployment = ensure_registry(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo(f"registry {deployment.address} on chain {deployment.chain_id} (block {deployment.block})")


@click.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    upgrade_database()
    click.echo("database is up to date")


@bills_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--org", "credit_code", required=True, help="credit code of the issuing organisation")
def bills_import(file: Path, credit_code: str) -> None:
    """Import bills from a CSV or XLSX file (one row per bill; see app/services/imports.py for the columns)."""
    # Only this command draws a progress bar: rich is loaded here, not at every app start.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    org = db.session.scalar(select(Organisation).where(Organisation.credit_code == credit_code))
    if org is None:
        raise click.ClickException(f"--org: no organisation with credit code {credit_code}")
    job = create_job(org, file.name, actor="cli")
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    ) as bar:
        task = bar.add_task("validating", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, description="issuing", completed=done, total=total)

        job = run_job(job.id, file.read_bytes(), advance)
    if job.errors:
        for error in job.errors:
            click.echo(error, err=True)
        raise click.ClickException(
            f"nothing issued from {file.name}: fix the rows above"
            if not job.done
            else f"stopped after {job.done} of {job.total} bills"
        )
    click.echo(f"issued {job.done} bills from {file.name} (import job {job.id}); anchoring follows")


@registry_cli.command("show")
def registry_show() -> None:
    """The registry new bills are signed for, and every registry this platform signed bills for."""
    client = runtime().client
    click.echo(f"current:  v{client.version} {client.registry_address} on chain {client.chain_id}")
    for row in db.session.scalars(select(Registry).order_by(Registry.id)):
        click.echo(f"used:     v{row.version} {row.address} on chain {row.chain_id} since {utc_iso(row.first_used_at)}")


@registry_cli.command("upgrade")
@click.option("--wait/--no-wait", default=True, help="wait until v2 admitted the organisations")
@click.option("--drain-timeout", default=120.0, show_default=True, help="seconds to finish v1 work first")
def registry_upgrade(wait: bool, drain_timeout: float) -> None:
    """Upgrade this platform from registry v1 to v2 (platform stopped, BILLCHAIN_ADMIN_KEY set).

    Anchors what is pending on v1 first, deploys BillRegistryV2, records it as the current deployment
    (the v1 record is kept as <chain_id>.v1.json) and queues every active organisation's admission to v2.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        done = upgrade_registry(app, drain_timeout=drain_timeout)
    except ServiceError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    click.echo(f"registry v1 {done.previous.address} kept in {done.archived} (its bills verify there)")
    click.echo(f"registry v2 {done.current.address} on chain {done.current.chain_id} (block {done.current.block})")
    for name in done.skipped:
        click.echo(f"not admitted to v2: {name} (its key is not in this keystore)", err=True)
    if app.config.get("BILLCHAIN_REGISTRY"):
        click.echo(f"set BILLCHAIN_REGISTRY={done.current.address} BILLCHAIN_REGISTRY_VERSION=2 before restarting")
    click.echo(f"admission to v2 queued for {len(done.queued)} organisations")
    if wait and done.queued:
        _wait_for_admissions()


def _wait_for_admissions(timeout: float = 120) -> None:
    """Worker rounds here until the queued admissions to v2 are confirmed (the platform is stopped)."""
    worker = AnchorWorker(current_app._get_current_object())  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            db.session.expire_all()
            left = db.session.scalar(
                select(ChainJob.id)
                .where(ChainJob.function == JobKind.REGISTER)
                .where(ChainJob.status.in_([JobStatus.QUEUED, JobStatus.SIGNED]))
                .limit(1)
            )
            if left is None:
                click.echo("admitted on registry v2")
                return
            if worker.run_once().chain_down:
                break
            time.sleep(0.2)
        click.echo("not all confirmed yet: the admissions stay queued; the worker will finish them", err=True)
    finally:
        worker.release_lease()


def init_app(app: Flask) -> None:
    app.cli.add_command(orgs)
    app.cli.add_command(bills_cli)
    app.cli.add_command(registry_cli)
    app.cli.add_command(anchor_worker)
    app.cli.add_command(deploy_registry)
    app.cli.add_command(init_db)
