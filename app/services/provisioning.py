"""Bringing a platform up: the schema, the registry deployment, the finance department, and the upgrade
of a platform from registry v1 to v2."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, inspect, select

from app.chain import Deployment, RegistryClient, deploy, deploy_v2, load_deployment, save_deployment
from app.extensions import db
from app.models import (
    Bill,
    BillStatus,
    ChainJob,
    JobKind,
    JobStatus,
    Organisation,
    OrgKind,
    OrgStatus,
    Sender,
    User,
    utcnow,
)
from app.outbox.worker import AnchorWorker
from app.runtime import runtime
from app.services.billfiles import current_registry
from app.services.errors import Conflict, Unavailable
from app.services.organisations import finance_organisation, registration_args

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def upgrade_database() -> None:
    """Apply the Alembic migrations (creates the schema on a new database).

    "heads", not "head": work developed side by side adds revisions on parallel branches, and all of
    them apply even before a merge revision joins them again.
    """
    upgrade(directory=str(MIGRATIONS), revision="heads")


def database_is_new() -> bool:
    return not inspect(db.engine).has_table("organisations") or db.session.scalar(select(Organisation.id)) is None


def ensure_registry(app: Flask) -> Deployment:
    """The recorded registry if its code is on the chain; otherwise deploy one and record it.

    A new deployment is BillRegistryV2 unless BILLCHAIN_REGISTRY_VERSION=1. A recorded v1 registry stays the
    platform's registry until `flask --app app registry upgrade`; asking for v2 over it is an error, not a
    silent redeployment (its bills would lose their registry).
    """
    config = app.config
    rpc_url = config["BILLCHAIN_RPC_URL"]
    timeout = config["BILLCHAIN_CHAIN_TIMEOUT"]
    wanted = config["BILLCHAIN_REGISTRY_VERSION"]
    chain_id = RegistryClient.probe_chain_id(rpc_url, timeout=timeout)
    deployments = Path(config["BILLCHAIN_DEPLOYMENTS_DIR"])
    recorded = load_deployment(deployments, chain_id)
    if recorded is not None:
        client = RegistryClient(rpc_url, recorded.address, timeout=timeout, artifact_path=config["BILLCHAIN_ARTIFACT"])
        if client.has_code():
            if wanted and int(wanted) != recorded.version:
                raise RuntimeError(
                    f"BILLCHAIN_REGISTRY_VERSION={wanted}, but the registry recorded in {deployments} is version "
                    f"{recorded.version}: unset it, or upgrade with `flask --app app registry upgrade`"
                )
            return recorded
    admin = runtime().admin_account_from_env()
    if admin is None:
        raise RuntimeError("BILLCHAIN_ADMIN_KEY is needed to deploy the registry")
    artifact, wait = config["BILLCHAIN_ARTIFACT"], max(timeout, 30)
    if int(wanted or 2) == 1:
        deployment = deploy(rpc_url, admin, artifact_path=artifact, timeout=wait)
    else:
        deployment = deploy_v2(rpc_url, admin, artifact_path=artifact, timeout=wait)
    save_deployment(deployments, deployment)
    runtime().reset_client()
    return deployment


# ---------------------------------------------------------------- registry v1 → v2


@dataclass
class Upgrade:
    """What `registry upgrade` did."""

    previous: Deployment
    current: Deployment
    archived: Path  # the previous record, kept beside the current one
    queued: list[str] = field(default_factory=list)  # organisations whose admission to v2 is queued
    skipped: list[str] = field(default_factory=list)  # organisations whose key is not in this keystore


def upgrade_registry(app: Flask, *, drain_timeout: float = 120.0) -> Upgrade:
    """Move this platform from its registry v1 to a new BillRegistryV2 on the same chain.

    1. Finish the work signed for v1 here first (pending bills anchored, queued and in-flight transactions
       confirmed): a bill's EIP-712 signature names its registry, so a pending v1 bill can only be anchored
       on v1, and re-signing it would change the content hash its QR code already carries. No other worker
       may run meanwhile (the platform is stopped; this takes the sender lease).
    2. Deploy v2 with the admin key; record it as deployments/<chain_id>.json and keep the v1 record as
       deployments/<chain_id>.v1.json.
    3. Queue registerOrganisation on v2 for every active issuer and claimant whose key is in this keystore,
       with the admission request their own key signs (as onboarding does). They stay usable meanwhile; an
       issuer anchors on v2 once admitted. v1 bills keep verifying against v1 (their files name it).
    """
    config = app.config
    rt = runtime()
    admin = rt.admin_account_from_env()
    if admin is None:
        raise Unavailable("no_admin_key", "BILLCHAIN_ADMIN_KEY (the finance department's key) is needed to deploy v2.")
    client = rt.client
    if client.version != 1:
        raise Conflict(
            "already_upgraded", f"The registry {client.registry_address} is already version {client.version}."
        )
    deployments = Path(config["BILLCHAIN_DEPLOYMENTS_DIR"])
    previous = load_deployment(deployments, client.chain_id)
    if previous is None or previous.address.lower() != client.registry_address.lower():
        previous = Deployment(client.registry_address, 0, "", client.chain_id, version=1)  # set by BILLCHAIN_REGISTRY
    finance = finance_organisation()
    if finance.address.lower() != admin.address.lower():
        raise Conflict("wrong_admin_key", f"BILLCHAIN_ADMIN_KEY is not the finance department's key {finance.address}.")
    current_registry()  # v1 is in `registries` before anything is signed for v2

    _drain(app, drain_timeout)

    timeout = max(float(config["BILLCHAIN_CHAIN_TIMEOUT"]), 30.0)
    current = deploy_v2(config["BILLCHAIN_RPC_URL"], admin, artifact_path=config["BILLCHAIN_ARTIFACT"], timeout=timeout)
    archived = deployments / f"{previous.chain_id}.v{previous.version}.json"
    if previous.block:  # a recorded deployment: kept as it was
        save_deployment(deployments, previous)
        (deployments / f"{previous.chain_id}.json").replace(archived)
    save_deployment(deployments, current)
    sender = db.session.get(Sender, admin.address)
    if sender is not None:  # the deployment spent the admin's next nonce outside the outbox (nothing else in flight)
        sender.next_nonce = client.pending_nonce(admin.address)
    # This process goes on with v2 (the configuration may name the registry itself).
    if config.get("BILLCHAIN_REGISTRY"):
        config["BILLCHAIN_REGISTRY"] = current.address
    config["BILLCHAIN_REGISTRY_VERSION"] = 2
    rt.reset_client()
    rt.chain_domain = None
    rt.verify_reader = None

    done = Upgrade(previous, current, archived)
    keys = {a.lower() for a in rt.keystore.addresses()}
    orgs = db.session.scalars(
        select(Organisation)
        .where(Organisation.kind.in_([OrgKind.ISSUER, OrgKind.CLAIMANT]), Organisation.status == OrgStatus.ACTIVE)
        .order_by(Organisation.id)
    ).all()
    for org in orgs:
        if org.address.lower() not in keys:
            done.skipped.append(org.name)
            continue
        org.chain_org_id = None  # a stable id is v2's, given when v2 admits it
        db.session.add(
            ChainJob(
                sender=finance.address, function=JobKind.REGISTER, args=registration_args(org), organisation_id=org.id
            )
        )
        done.queued.append(org.name)
    db.session.commit()
    rt.wake_worker()
    return done


def _v1_work_left() -> tuple[int, int]:
    """(pending bills of active issuers, transactions queued or in flight) of this platform."""
    bills = db.session.scalar(
        select(func.count(Bill.id))
        .join(Organisation, Organisation.id == Bill.organisation_id)
        .where(Bill.status == BillStatus.PENDING, Organisation.status == OrgStatus.ACTIVE)
    )
    jobs = db.session.scalar(
        select(func.count(ChainJob.id)).where(ChainJob.status.in_([JobStatus.QUEUED, JobStatus.SIGNED]))
    )
    return int(bills or 0), int(jobs or 0)


def _drain(app: Flask, timeout: float) -> None:
    """Run worker rounds here until everything signed for v1 is on chain; refuse while another worker runs."""
    worker = AnchorWorker(app, holder=f"registry-upgrade:{id(app)}")
    deadline = time.monotonic() + timeout
    try:
        while True:
            db.session.expire_all()
            bills, jobs = _v1_work_left()
            if not bills and not jobs:
                return
            report = worker.run_once()
            if not report.leased:
                raise Conflict(
                    "platform_running",
                    "Another anchoring worker holds the sender lease: stop the platform (every app process and "
                    "`flask anchor-worker`) before upgrading, so that nothing is signed for v1 meanwhile.",
                )
            if report.chain_down:
                raise Unavailable("chain_unavailable", "The chain cannot be reached: nothing was changed.")
            if time.monotonic() > deadline:
                raise Conflict(
                    "v1_work_pending",
                    f"{bills} pending bills and {jobs} transactions are not on registry v1 yet after {timeout:.0f} s "
                    "(see the finance dashboard's dead jobs); nothing was changed, try again.",
                )
            time.sleep(0.1)
    finally:
        worker.release_lease()


def ensure_finance(
    name: str = "财政局 Finance Department",
    credit_code: str = "11110000000000001R",
    username: str = "finance",
    password: str | None = None,
) -> tuple[str, str] | None:
    """Record the finance department (address of BILLCHAIN_ADMIN_KEY) and its login, once."""
    if db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.FINANCE)):
        return None
    admin = runtime().admin_account_from_env()
    if admin is None:
        raise RuntimeError("BILLCHAIN_ADMIN_KEY (the registry admin's key) is not set")
    org = Organisation(
        name=name,
        credit_code=credit_code,
        kind=OrgKind.FINANCE,
        address=admin.address,
        status=OrgStatus.ACTIVE,
        registered_at=utcnow(),
    )
    password = password or secrets.token_urlsafe(9)
    user = User(username=username, organisation=org)
    user.set_password(password)
    db.session.add_all([org, user])
    db.session.commit()
    return username, password
