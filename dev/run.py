"""`make run`: the whole system on one machine.

Starts Anvil (from npm) with its state in the instance folder unless BILLCHAIN_RPC_URL names another
chain, deploys the registry if the recorded address has no code, sets up the database and (when new)
the demo organisations, then serves the app with the anchoring worker. Ctrl-C stops it all cleanly;
issued bills are in the database and anchor on the next start if they did not before.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
from pathlib import Path
from types import FrameType

from werkzeug.serving import make_server

from app import create_app
from app.outbox.worker import AnchorWorker
from app.services.provisioning import database_is_new, ensure_finance, ensure_registry, upgrade_database
from app.serving import tune_gc
from dev.bootstrap import DemoLogin, issue_demo_bills, seed_demo
from dev.devchain import ANVIL_DEV_KEYS, AnvilNode, start_anvil

ANVIL_PORT = 8545
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
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    instance = _instance_path()
    node: AnvilNode | None = None
    if not os.environ.get("BILLCHAIN_RPC_URL"):
        chain_dir = instance / "chain"
        chain_dir.mkdir(exist_ok=True)
        node = start_anvil(ANVIL_PORT, chain_dir / "anvil-state.json")
        os.environ["BILLCHAIN_RPC_URL"] = node.rpc_url
        os.environ.setdefault("BILLCHAIN_DEPLOYMENTS_DIR", str(instance / "deployments"))
        # Local dev chain only: the finance admin is Anvil's first well-known dev account.
        os.environ.setdefault("BILLCHAIN_ADMIN_KEY", ANVIL_DEV_KEYS[0])
        print(f"Anvil running at {node.rpc_url} (state: {chain_dir / 'anvil-state.json'})")
    os.environ.setdefault("BILLCHAIN_KEYSTORE_PASSWORD", _dev_secret(instance, "keystore-password"))

    app = create_app()
    with app.app_context():
        upgrade_database()
        if not os.environ.get("BILLCHAIN_REGISTRY"):
            deployment = ensure_registry(app)
            print(f"BillRegistry at {deployment.address} on chain {deployment.chain_id}")
        new = database_is_new()
        finance_login = ensure_finance() if new else None
    worker = AnchorWorker(app)
    if app.config["BILLCHAIN_WORKER"]:  # else run `flask --app app anchor-worker` separately
        app.extensions["billchain"].worker = worker
        worker.start()
    if new:
        with app.app_context():
            logins = seed_demo()
            urls = issue_demo_bills() if app.config["BILLCHAIN_WORKER"] else []
        _print_logins(instance, finance_login, logins)
        for url in urls:
            print(f"demo bill: {url}")

    tune_gc()
    server = make_server(HOST, PORT, app, threaded=True)

    def _shutdown(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _shutdown)
    print(f"Billchain serving on http://{HOST}:{PORT}  (Ctrl-C stops everything)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopping…")
    finally:
        server.server_close()
        worker.stop()
        if node is not None:
            node.stop()  # SIGTERM: anvil writes its state file
        print("stopped; bills and chain state are kept in", instance)


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
    path.write_text(text)
    path.chmod(0o600)
    print("\n" + text + f"(also in {path})\n")


if __name__ == "__main__":
    main()
