"""The app as production runs it: Anvil, gunicorn (2 workers x 4 threads) and a separate anchor worker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from app.chain import deploy
from app.serving import THREADS, WORKERS, gunicorn_command
from dev.devchain import ANVIL_DEV_KEYS, REPO_ROOT, dev_account, free_port, start_anvil

# tools/with-postgres.sh (make test on a machine without a server) exports its throwaway cluster's URL.
POSTGRES_SERVER = os.environ.get("BILLCHAIN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_SCHEMA = "billchain_bench"  # our own schema: the app tests reset `public` in the same database


@dataclass
class Served:
    base_url: str
    token: str
    database_url: str
    engine: sa.Engine
    web_pid: int = 0
    worker_pid: int = 0
    rpc_url: str = ""
    registry: str = ""


def postgres_url() -> str:
    """A fresh, dedicated schema; the app reaches it through search_path."""
    engine = sa.create_engine(POSTGRES_SERVER)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {PG_SCHEMA}"))
    engine.dispose()
    return f"{POSTGRES_SERVER}?options=-csearch_path%3D{PG_SCHEMA}"


def _env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLCHAIN_")}
    env.update(settings)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def _onboard_issuer(settings: dict[str, str]) -> str:
    """Finance admin and one issuer, through the app's own services, confirmed on chain; its API token."""
    from app import create_app
    from app.bills.identifiers import credit_code_check_char
    from app.extensions import db
    from app.models import Organisation, OrgStatus
    from app.outbox.worker import AnchorWorker
    from app.services.organisations import onboard_organisation
    from app.services.provisioning import ensure_finance, upgrade_database

    config: dict[str, Any] = dict(settings)
    config["BILLCHAIN_CHAIN_ID"] = int(settings["BILLCHAIN_CHAIN_ID"])
    config["BILLCHAIN_KEYSTORE_KDF_N"] = int(settings["BILLCHAIN_KEYSTORE_KDF_N"])
    config["BILLCHAIN_WORKER"] = False
    app = create_app(config)
    worker = AnchorWorker(app, holder="bench-setup")
    with app.app_context():
        upgrade_database()
        ensure_finance(password="bench-finance")
        first17 = "12110000400000001"
        code = first17 + credit_code_check_char(first17)
        done = onboard_organisation("北京市第一中学", code, "issuer", actor="bench")
        org_id, token = done.organisation.id, done.token
    deadline = time.monotonic() + 30
    while True:
        worker.run_once()
        with app.app_context():
            db.session.expire_all()
            org = db.session.get(Organisation, org_id)
            if org is not None and org.status == OrgStatus.ACTIVE:
                break
        if time.monotonic() > deadline:
            raise RuntimeError("the issuer's registration was not confirmed")
        time.sleep(0.05)
    worker.release_lease()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return token


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serve(
    database: str, *, anchor_interval: float = 1.0, workers: int = WORKERS, threads: int = THREADS
) -> Iterator[Served]:
    """Anvil + registry + database + issuer, then gunicorn and `flask anchor-worker` as subprocesses."""
    with start_anvil() as node, tempfile.TemporaryDirectory(prefix="billchain-bench-") as tmp:
        deployment = deploy(node.rpc_url, dev_account(0))
        database_url = f"sqlite:///{tmp}/billchain.sqlite" if database == "sqlite" else postgres_url()
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        settings = {
            "BILLCHAIN_INSTANCE_PATH": str(Path(tmp) / "instance"),
            "BILLCHAIN_DATABASE_URL": database_url,
            "BILLCHAIN_RPC_URL": node.rpc_url,
            "BILLCHAIN_REGISTRY": deployment.address,
            "BILLCHAIN_CHAIN_ID": str(deployment.chain_id),
            "BILLCHAIN_KEYSTORE_DIR": str(Path(tmp) / "keystore"),
            "BILLCHAIN_KEYSTORE_PASSWORD": "bench-password",
            "BILLCHAIN_KEYSTORE_KDF_N": str(2**10),
            "BILLCHAIN_ADMIN_KEY": ANVIL_DEV_KEYS[0],
            "BILLCHAIN_ANCHOR_INTERVAL": str(anchor_interval),
            "BILLCHAIN_SECRET_KEY": "bench-secret",
            "BILLCHAIN_BASE_URL": base_url,
            "BILLCHAIN_RATELIMIT_VERIFY": "100000000 per minute",
            "BILLCHAIN_RATELIMIT_ROUTES": "100000000 per minute",  # health, claims: the load is one client
        }
        token = _onboard_issuer(settings)
        logs = Path(tmp)
        web_env = _env({**settings, "BILLCHAIN_WORKER": "0"})
        with (logs / "gunicorn.log").open("wb") as web_log, (logs / "worker.log").open("wb") as worker_log:
            web = subprocess.Popen(
                # The production entry point (GC tuned; BILLCHAIN_WORKER=0 here), served as `make run` serves it.
                gunicorn_command(f"127.0.0.1:{port}", workers=workers, threads=threads),
                cwd=REPO_ROOT,
                env=web_env,
                stdout=web_log,
                stderr=subprocess.STDOUT,
            )
            anchor = subprocess.Popen(
                [str(Path(sys.executable).parent / "flask"), "--app", "app", "anchor-worker"],
                cwd=REPO_ROOT,
                env=_env({**settings, "BILLCHAIN_WORKER": "0"}),
                stdout=worker_log,
                stderr=subprocess.STDOUT,
            )
            engine = sa.create_engine(database_url)
            try:
                _wait_http(f"{base_url}/api/v1/health", web)
                yield Served(
                    base_url, token, database_url, engine, web.pid, anchor.pid, node.rpc_url, deployment.address
                )
            finally:
                engine.dispose()
                _stop(anchor)
                _stop(web)
                keep = REPO_ROOT / "bench-results"
                keep.mkdir(exist_ok=True)
                for name in ("gunicorn.log", "worker.log"):
                    shutil.copyfile(logs / name, keep / f"{database}-{name}")
