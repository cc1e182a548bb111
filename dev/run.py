"""`make run`: the whole system on one machine.

Starts Anvil (from npm) with its state in the instance folder unless BILLCHAIN_RPC_URL names another
chain, deploys the registry if the recorded address has no code, sets up the database and (when new)
the demo organisations, then serves the app with the anchoring worker. Ctrl-C stops it all cleanly;
issued bills are in the database and anchor on the next start if they did not before.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
from pathlib import Path
from types import FrameType

from sqlalchemy.engine import make_url

from app import create_app
from app.config import INSTANCE_ENV_FILE, create_private_file, env_setting
from app.outbox.worker import AnchorWorker
from app.services.delivery import DeliveryWorker
from app.services.provisioning import database_is_new, ensure_finance, ensure_registry, upgrade_database
from app.serving import gunicorn_command
from dev.bootstrap import DemoLogin, issue_demo_bills, seed_demo
from dev.devchain import ANVIL_DEV_KEYS, AnvilNode, start_anvil

ANVIL_PORT: int = env_setting("DEV_ANVIL_PORT")
HOST, PORT = os.environ.get("BILLCHAIN_HOST", "127.0.0.1"), int(os.environ.get("BILLCHAIN_PORT", "5000"))


def _instance_path() -> Path:
    path = Path(os.environ.get("BILLCHAIN_INSTANCE_PATH") or Path(__file__).resolve().parent.parent / "instance")
    path.mkdir(parents=True, exist_ok=True)
    os.environ["BILLCHAIN_INSTANCE_PATH"] = str(path)
    return path


def _dev_secret(instance: Path, name: str) -> str:
    """A random local-only secret kept beside the data it protects (development only; set the
    environment variable in production)."""
    path = instance / name
    create_private_file(path, secrets.token_urlsafe(24))  # 0600 from the first byte; kept if it exists
    return path.read_text().strip()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    instance = _instance_path()
    node: AnvilNode | None = None
    given_admin = bool(os.environ.get("BILLCHAIN_ADMIN_KEY"))
    if not os.environ.get("BILLCHAIN_RPC_URL"):
        chain_dir = instance / "chain"
        chain_dir.mkdir(exist_ok=True)
        node = start_anvil(ANVIL_PORT, chain_dir / "anvil-state.json")
        os.environ["BILLCHAIN_RPC_URL"] = node.rpc_url
        os.environ.setdefault("BILLCHAIN_DEPLOYMENTS_DIR", str(instance / "deployments"))
        # Local dev chain only: the finance admin is Anvil's first well-known dev account.
        os.environ.setdefault("BILLCHAIN_ADMIN_KEY", ANVIL_DEV_KEYS[0])
        print(f"Anvil running at {node.rpc_url} (state: {chain_dir / 'anvil-state.json'})")
    given_password = bool(os.environ.get("BILLCHAIN_KEYSTORE_PASSWORD"))
    os.environ.setdefault("BILLCHAIN_KEYSTORE_PASSWORD", _dev_secret(instance, "keystore-password"))
    os.environ.setdefault("BILLCHAIN_DEV_OUTBOX", "1")  # texts and e-mails "sent" are listed at /dev/outbox
    _write_instance_env(instance, dev_admin=node is not None and not given_admin, dev_password=not given_password)

    app = create_app()
    with app.app_context():
        upgrade_database()
        if not os.environ.get("BILLCHAIN_REGISTRY"):
            deployment = ensure_registry(app)
            print(f"BillRegistry at {deployment.address} on chain {deployment.chain_id}")
        new = database_is_new()
        finance_login = ensure_finance() if new else None
    worker = AnchorWorker(app)
    delivery = DeliveryWorker(app)
    if app.config["BILLCHAIN_WORKER"]:  # else run `flask --app app anchor-worker` separately
        app.extensions["billchain"].worker = worker
        worker.start()
        delivery.start()
    if new:
        with app.app_context():
            logins = seed_demo()
            urls = issue_demo_bills() if app.config["BILLCHAIN_WORKER"] else []
        _print_logins(instance, finance_login, logins)
        for url in urls:
            print(f"demo bill: {url}")

    # Served as in production: gunicorn (2 workers x 4 threads, keep-alive, no access log) in its own
    # process group, with the anchoring worker staying here (BILLCHAIN_WORKER=0 in the web processes).
    server = subprocess.Popen(  # noqa: S603 (this interpreter's gunicorn, fixed arguments)
        gunicorn_command(f"{HOST}:{PORT}"), env={**os.environ, "BILLCHAIN_WORKER": "0"}, start_new_session=True
    )

    def _shutdown(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _shutdown)
    print(f"Billchain serving on http://{HOST}:{PORT}  (Ctrl-C stops everything)")
    try:
        server.wait()
    except KeyboardInterrupt:
        print("\nstopping…")
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        worker.stop()
        delivery.stop()
        if node is not None:
            node.stop()  # SIGTERM: anvil writes its state file
        print("stopped; bills and chain state are kept in", instance)


def _write_instance_env(instance: Path, *, dev_admin: bool, dev_password: bool) -> Path:
    """instance/billchain.env (mode 0600) for the tools beside `make run`: `flask --app app ...` and `ape console`
    read it as a layer under the environment (app/config.py). Where the chain and the records are, always;
    secrets only when they are this machine's development ones (the generated keystore password, Anvil's
    public dev key 0), never a key someone passed in. Rewritten on every start, so it never goes stale.
    """
    lines = [
        "# Written by `make run` for the tools beside it (flask --app app ..., ape console). Development only:",
        "# delete it and set BILLCHAIN_* in the environment anywhere else. Environment variables win over it.",
    ]
    names = ["BILLCHAIN_RPC_URL", "BILLCHAIN_DEPLOYMENTS_DIR", "BILLCHAIN_REGISTRY"]
    database = os.environ.get("BILLCHAIN_DATABASE_URL")
    if database and make_url(database).password is None:  # the same database, never a password in a file
        names.append("BILLCHAIN_DATABASE_URL")
    if dev_admin:
        names.append("BILLCHAIN_ADMIN_KEY")
    if dev_password:
        names.append("BILLCHAIN_KEYSTORE_PASSWORD")
    for name in names:
        value = os.environ.get(name)
        if value and name == "BILLCHAIN_DEPLOYMENTS_DIR":
            value = str(Path(value).resolve())
        if value:
            lines.append(f"{name}={json.dumps(value, ensure_ascii=False)}")
    path = instance / INSTANCE_ENV_FILE
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)  # before any secret is in it
    path.write_text("\n".join(lines) + "\n")
    return path


def _print_logins(instance: Path, finance: tuple[str, str] | None, logins: list[DemoLogin]) -> None:
    """Print the demo logins once and keep a copy (mode 0600) in the instance folder."""
    lines = ["Demo organisations (new database):"]
    if finance:
        lines.append(f"  finance   财政局 Finance Department\n            login {finance[0]} / {finance[1]}")
    for login in logins:
        lines.append(
            f"  {login.kind:<9} {login.organisation}\n            login {login.username} / {login.password}"
            f"   API token {login.token}"
        )
    text = "\n".join(lines) + "\n"
    path = instance / "demo-logins.txt"
    path.unlink(missing_ok=True)  # a new database, new logins: replace the old list, never readable by others
    create_private_file(path, text)
    print("\n" + text + f"(also in {path})\n")


if __name__ == "__main__":
    main()
