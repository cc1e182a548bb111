"""Bringing a platform up: the schema, the registry deployment, and the finance department."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import inspect, select

from app.chain import Deployment, RegistryClient, deploy, load_deployment, save_deployment
from app.extensions import db
from app.models import Organisation, OrgKind, OrgStatus, User, utcnow
from app.runtime import runtime

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
    """The recorded registry if its code is on the chain; otherwise deploy one and record it."""
    config = app.config
    rpc_url = config["BILLCHAIN_RPC_URL"]
    timeout = config["BILLCHAIN_CHAIN_TIMEOUT"]
    chain_id = RegistryClient.probe_chain_id(rpc_url, timeout=timeout)
    deployments = Path(config["BILLCHAIN_DEPLOYMENTS_DIR"])
    recorded = load_deployment(deployments, chain_id)
    if recorded is not None:
        client = RegistryClient(rpc_url, recorded.address, timeout=timeout, artifact_path=config["BILLCHAIN_ARTIFACT"])
        if client.has_code():
            return recorded
    admin = runtime().admin_account_from_env()
    if admin is None:
        raise RuntimeError("BILLCHAIN_ADMIN_KEY is needed to deploy the registry")
    deployment = deploy(rpc_url, admin, artifact_path=config["BILLCHAIN_ARTIFACT"], timeout=max(timeout, 30))
    save_deployment(deployments, deployment)
    runtime().reset_client()
    return deployment


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
