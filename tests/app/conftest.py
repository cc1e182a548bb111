"""App tests on real parts: one Anvil for the session, a fresh database per test on SQLite and PostgreSQL.

Every test that takes `app` runs twice, once per database (PostgreSQL at 127.0.0.1:5432, database
`test`, trust auth). Organisations are onboarded through the app itself, so each test gets its own
keys and nothing on the shared chain collides.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from appkit import Org, credit_code, make_config, next_number, wait_until
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.chain import Deployment, deploy, deploy_v2
from app.extensions import db
from app.models import Organisation, OrgStatus
from app.outbox.worker import AnchorWorker
from app.services.organisations import onboard_organisation
from app.services.provisioning import ensure_finance, upgrade_database
from dev import devchain
from dev.devchain import AnvilNode

# The tests never read a developer's instance folder (make run writes instance/billchain.env there,
# which the app would read as a settings layer): each session gets an empty one of its own.
os.environ["BILLCHAIN_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="billchain-test-instance-")

# tools/with-postgres.sh exports a throwaway cluster's URL; else the machine's server on 5432.
POSTGRES_URL = os.environ.get("BILLCHAIN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    with devchain.start_anvil() as node:
        yield node


@pytest.fixture(scope="session")
def deployment(anvil: AnvilNode) -> Deployment:
    return deploy(anvil.rpc_url, devchain.dev_account(0))


@pytest.fixture(scope="session")
def deployment_v2(anvil: AnvilNode) -> Deployment:
    """Registry v2 on the same Anvil; a module overrides `deployment` with it to run the app on v2."""
    return deploy_v2(anvil.rpc_url, devchain.dev_account(0))


def _postgres_schema(name: str, *, drop: bool = False) -> None:
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        if not drop:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database per test: a SQLite file, or a PostgreSQL schema of its own (parallel-safe)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'billchain.sqlite'}"
        return
    schema = f"t{os.getpid()}_{next_number()}"
    _postgres_schema(schema)
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    _postgres_schema(schema, drop=True)


@pytest.fixture
def app(anvil: AnvilNode, deployment: Deployment, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(make_config(anvil, deployment, database_url, tmp_path))
    with app.app_context():
        upgrade_database()
        ensure_finance(password="finance-pass")
    yield app
    platform = app.extensions["billchain"]
    if platform.worker is not None:
        platform.worker.stop()
    if platform.verification_tally is not None:  # before the test's database schema is dropped
        platform.verification_tally.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def worker(app: Flask) -> Iterator[AnchorWorker]:
    """The anchoring worker in a thread, as `make run` runs it (it takes over the tests' lease)."""
    if "test_worker" in app.extensions:
        app.extensions["test_worker"].release_lease()
    worker = AnchorWorker(app)
    app.extensions["billchain"].worker = worker
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser that prefers English: these tests read the English page texts (test_i18n covers Chinese)."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def onboard(app: Flask) -> Callable[..., Org]:
    """Onboard an organisation through the app and wait until the chain confirmed it."""

    def _onboard(kind: str, name: str | None = None) -> Org:
        with app.app_context():
            username = f"{kind}{next_number()}"
            done = onboard_organisation(
                name or f"测试{kind} {username}",
                credit_code(),
                kind,
                actor="test",
                username=username,
                password="pw",
            )
            org_id = done.organisation.id
            address = done.organisation.address
        wait_until(app, lambda: db.session.get(Organisation, org_id).status == OrgStatus.ACTIVE)
        return Org(org_id, done.organisation.name, address, done.token, username, "pw")

    return _onboard


@pytest.fixture
def issuer(onboard: Callable[..., Org]) -> Org:
    return onboard("issuer", "北京市第一中学")


@pytest.fixture
def claimant(onboard: Callable[..., Org]) -> Org:
    return onboard("claimant", "示例人寿保险")


@pytest.fixture
def other_claimant(onboard: Callable[..., Org]) -> Org:
    return onboard("claimant", "另一家保险")
