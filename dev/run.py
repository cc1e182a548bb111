"""`make run`: the whole system on one machine; `make run-member`: a second member platform beside it.

`make run` starts Anvil (from npm) with its state in the instance folder unless BILLCHAIN_RPC_URL names
another chain, deploys the registry (BillRegistryV2; v1 with BILLCHAIN_REGISTRY_VERSION=1) if the recorded
address has no code, sets up the database and (when new) the demo organisations, bills and a claim, then
serves the app with the anchoring worker. Ctrl-C stops it all cleanly; issued bills are in the database and
anchor on the next start if they did not before. `--upgrade-registry` first moves a platform still on
registry v1 to v2 (`flask --app app registry upgrade` for make run's own chain, which lives only while it runs).

`--member` (`make run-member`) is another platform of the consortium on the same chain and registry: found
through the first platform's instance/billchain.env, with its own database, keystore and instance folder
(instance/member/), port 5001 and no admin key. Its organisations are admitted by the first platform's
finance department (README, "Consortium").
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from dotenv import dotenv_values
from flask import Flask
from sqlalchemy.engine import make_url

from app import create_app
from app.chain import RegistryClient, load_deployment
from app.config import INSTANCE_ENV_FILE, create_private_file, env_setting
from app.outbox.worker import AnchorWorker
from app.services.delivery import DeliveryWorker
from app.services.errors import ServiceError
from app.services.provisioning import (
    database_is_new,
    ensure_finance,
    ensure_registry,
    upgrade_database,
    upgrade_registry,
)
from app.serving import gunicorn_command
from dev.bootstrap import DemoLogin, claim_demo_bill, issue_demo_bills, seed_demo
from dev.devchain import ANVIL_DEV_KEYS, AnvilNode, start_anvil

REPO = Path(__file__).resolve().parent.parent
ANVIL_PORT: int = env_setting("DEV_ANVIL_PORT")
HOST = os.environ.get("BILLCHAIN_HOST", "127.0.0.1")
FIRST_PORT, MEMBER_PORT = 5000, 5001


def _port(member: bool) -> int:
    return int(os.environ.get("BILLCHAIN_PORT") or (MEMBER_PORT if member else FIRST_PORT))


def _instance_path(member: bool = False) -> Path:
    default = REPO / "instance" / "member" if member else REPO / "instance"
    path = Path(os.environ.get("BILLCHAIN_INSTANCE_PATH") or default)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["BILLCHAIN_INSTANCE_PATH"] = str(path)
    return path


def _dev_secret(instance: Path, name: str) -> str:
    """A random local-only secret kept beside the data it protects (development only; set the
    environment variable in production)."""
    path = instance / name
    create_private_file(path, secrets.token_urlsafe(24))  # 0600 from the first byte; kept if it exists
    return path.read_text().strip()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    member = "--member" in args
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    instance = _instance_path(member)
    port = _port(member)
    os.environ.setdefault("BILLCHAIN_BASE_URL", f"http://{HOST}:{port}")  # QR codes point at this platform
    node: AnvilNode | None = None
    if member:
        _join_first_platform(instance)
        given_admin = False
    else:
        # The member platform beside it (make run-member) is asked for proofs of its bills' QR codes.
        os.environ.setdefault("BILLCHAIN_MEMBER_PLATFORMS", f"http://{HOST}:{MEMBER_PORT}")
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
    try:
        with app.app_context():
            upgrade_database()
            if member:
                client = app.extensions["billchain"].client
                print(f"BillRegistry v{client.version} at {client.registry_address} on chain {client.chain_id}")
            elif not os.environ.get("BILLCHAIN_REGISTRY"):
                deployment = ensure_registry(app)
                print(f"BillRegistry v{deployment.version} at {deployment.address} on chain {deployment.chain_id}")
            if "--upgrade-registry" in args and not member:
                _upgrade(app)
            new = database_is_new()
            finance_login = ensure_finance() if new and not member else None
    except BaseException:
        if node is not None:
            node.stop()
        raise
    worker = AnchorWorker(app)
    delivery = DeliveryWorker(app)
    if app.config["BILLCHAIN_WORKER"]:  # else run `flask --app app anchor-worker` separately
        app.extensions["billchain"].worker = worker
        worker.start()
        delivery.start()
    if new and not member:
        with app.app_context():
            logins = seed_demo()
            urls = issue_demo_bills() if app.config["BILLCHAIN_WORKER"] else []
            claimed = claim_demo_bill() if urls else None
        _print_logins(instance, finance_login, logins)
        for url in urls:
            print(f"demo bill: {url}")
        if claimed:
            print(f"demo claim: {claimed}")
    if member:
        _print_member_help(instance)

    # Served as in production: gunicorn (2 workers x 4 threads, keep-alive, no access log) in its own
    # process group, with the anchoring worker staying here (BILLCHAIN_WORKER=0 in the web processes).
    server = subprocess.Popen(  # noqa: S603 (this interpreter's gunicorn, fixed arguments)
        gunicorn_command(f"{HOST}:{port}"), env={**os.environ, "BILLCHAIN_WORKER": "0"}, start_new_session=True
    )

    def _shutdown(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _shutdown)
    kind = "member platform" if member else "Billchain"
    print(f"{kind} serving on http://{HOST}:{port}  (Ctrl-C stops everything)")
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


def _join_first_platform(instance: Path) -> None:
    """A member platform: the first platform's chain and registry (from its instance/billchain.env), and
    nothing else of it: its own database, keystore and secrets in `instance`, and no admin key."""
    first = Path(os.environ.get("BILLCHAIN_MEMBER_OF") or REPO / "instance")
    shared = dotenv_values(first / INSTANCE_ENV_FILE) if (first / INSTANCE_ENV_FILE).is_file() else {}
    for name in ("BILLCHAIN_RPC_URL", "BILLCHAIN_DEPLOYMENTS_DIR", "BILLCHAIN_REGISTRY"):
        value = shared.get(name)
        if value and not os.environ.get(name):
            os.environ[name] = value
    if not os.environ.get("BILLCHAIN_RPC_URL"):
        raise SystemExit(f"no {first / INSTANCE_ENV_FILE}: start the first platform with `make run`, then this")
    # Never the first platform's database, keys, secrets or admin key, even when exported in this shell.
    for name in ("BILLCHAIN_ADMIN_KEY", "BILLCHAIN_DATABASE_URL", "BILLCHAIN_KEYSTORE_DIR", "BILLCHAIN_SECRET_KEY"):
        os.environ.pop(name, None)
    rpc_url = os.environ["BILLCHAIN_RPC_URL"]
    try:
        chain_id = RegistryClient.probe_chain_id(rpc_url, timeout=5.0)
    except Exception as exc:
        raise SystemExit(f"no chain answers at {rpc_url} ({exc}): is `make run` running?") from exc
    deployments = os.environ.get("BILLCHAIN_DEPLOYMENTS_DIR")
    if not os.environ.get("BILLCHAIN_REGISTRY") and (
        not deployments or load_deployment(Path(deployments), chain_id) is None
    ):
        raise SystemExit(f"no registry recorded for chain {chain_id} in {deployments}: is `make run` running?")
    first_url = shared.get("BILLCHAIN_BASE_URL") or f"http://{HOST}:{FIRST_PORT}"
    os.environ.setdefault("BILLCHAIN_MEMBER_PLATFORMS", first_url)  # QR codes of its bills: ask it for proofs
    print(f"member platform of {first_url}: chain {rpc_url}, its own data in {instance}")


def _upgrade(app: Flask) -> None:
    """`make run` with --upgrade-registry: v1 → v2 before anything else runs (see upgrade_registry)."""
    if app.extensions["billchain"].client.version != 1:
        print("registry upgrade: already on registry v2")
        return
    try:
        done = upgrade_registry(app)
    except ServiceError as exc:
        raise SystemExit(f"registry upgrade: {exc.code}: {exc.message}") from exc
    print(f"registry upgrade: v2 at {done.current.address}; v1 {done.previous.address} kept in {done.archived}")
    print(f"registry upgrade: admission to v2 queued for {len(done.queued)} organisations")


def _print_member_help(instance: Path) -> None:
    rel = os.path.relpath(instance, REPO)
    print(
        "\nNo finance department here: the first platform's admits this platform's organisations.\n"
        f"  BILLCHAIN_INSTANCE_PATH={rel} .venv/bin/flask --app app orgs request-admission \\\n"
        "      --name 示例健康保险 --credit-code 911100001000000046 --kind claimant --out request.json\n"
        "  .venv/bin/flask --app app orgs admit request.json     # the first platform (its finance department)\n"
        "The organisation is active here once this platform sees OrganisationRegistered on chain.\n"
    )


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
    names = [
        "BILLCHAIN_RPC_URL",
        "BILLCHAIN_DEPLOYMENTS_DIR",
        "BILLCHAIN_REGISTRY",
        "BILLCHAIN_BASE_URL",
        "BILLCHAIN_MEMBER_PLATFORMS",
    ]
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
