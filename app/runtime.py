"""The chain client, keystore and worker of a running app: resolved lazily, so it starts while the chain is down."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.chain import ChainNotConfiguredError, RegistryClient, load_deployment
from app.chain.registry_v2 import RegistryV2Client
from app.extensions import db
from app.keys import Keystore, KeystoreError


class SigningKeyUnavailableError(Exception):
    """An organisation's key cannot be unlocked: the keystore password or folder is not set right."""


class Runtime:
    """Per-app state in app.extensions["billchain"]: registry client, keystore, worker thread, verify caches."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.config = app.config
        self._client: RegistryClient | None = None
        self._other_clients: dict[str, RegistryClient] = {}  # registries used before, by lower-case address
        self._keystore: Keystore | None = None
        self._lock = threading.Lock()
        self.worker: Any = None  # app.outbox.worker.AnchorWorker when this process runs one
        self.chain_domain: Any = None  # app.services.billfiles.RegistryRef of new bills, once recorded
        self.registries: dict[int | None, Any] = {}  # RegistryRef by registries.id, as bills name them
        self.verify_reader: Any = None  # app.services.verification.VerifyReader, made on first verification
        self.bill_file_cache: Any = None  # app.services.verification.BillFileCache
        self.verification_tally: Any = None  # app.services.verification.VerificationTally
        self.delivery_worker: Any = None  # app.services.delivery.DeliveryWorker when this process runs one
        self.pdf_maker: Any = None  # app.web.pdf.bill_pdf, set by create_app (services cannot import web)
        self.dev_outbox: Any = None  # app.services.delivery.DevOutbox when BILLCHAIN_DEV_OUTBOX is on
        with app.app_context():
            _tune_sqlite(db.engine)

    # ------------------------------------------------------------------ chain

    @property
    def client(self) -> RegistryClient:
        """The registry client; raises ChainUnavailableError if the chain or registry cannot be found."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._connect()
        return self._client

    def _connect(self) -> RegistryClient:
        rpc_url = self.config["BILLCHAIN_RPC_URL"]
        timeout = self.config["BILLCHAIN_CHAIN_TIMEOUT"]
        address = self.config["BILLCHAIN_REGISTRY"]
        chain_id = self.config["BILLCHAIN_CHAIN_ID"]
        version = self.config["BILLCHAIN_REGISTRY_VERSION"]
        if not address:
            if chain_id is None:
                chain_id = RegistryClient.probe_chain_id(rpc_url, timeout=timeout)
            deployment = load_deployment(Path(self.config["BILLCHAIN_DEPLOYMENTS_DIR"]), chain_id)
            if deployment is None:
                raise ChainNotConfiguredError(
                    f"no BillRegistry deployment recorded for chain {chain_id}: "
                    "run `make run` (deploys on the local chain) or set BILLCHAIN_REGISTRY"
                )
            address = deployment.address
            version = version or deployment.version
        return self.client_class(int(version or 1))(
            rpc_url, address, timeout=timeout, artifact_path=self.config["BILLCHAIN_ARTIFACT"]
        )

    @staticmethod
    def client_class(version: int) -> type[RegistryClient]:
        if version not in (1, 2):
            raise ChainNotConfiguredError(f"BILLCHAIN_REGISTRY_VERSION must be 1 or 2, not {version}")
        return RegistryV2Client if version == 2 else RegistryClient

    @property
    def registry_version(self) -> int:
        """The version of the registry new bills are signed for and anchored on."""
        return int(getattr(self.client, "version", 1))

    def client_for(self, address: str, version: int) -> RegistryClient:
        """A client of any registry on this chain: the current one, or one this platform used before."""
        current = self.client
        if current.registry_address.lower() == address.lower():
            return current
        key = address.lower()
        with self._lock:
            found = self._other_clients.get(key)
            if found is None:
                found = self._other_clients[key] = self.client_class(version)(
                    self.config["BILLCHAIN_RPC_URL"],
                    address,
                    timeout=self.config["BILLCHAIN_CHAIN_TIMEOUT"],
                    artifact_path=self.config["BILLCHAIN_ARTIFACT"],
                )
                found.chain_id = current.chain_id
        return found

    def reset_client(self) -> None:
        """Forget the client, e.g. after a redeployment in development."""
        with self._lock:
            self._client = None
            self._other_clients = {}

    def domain(self) -> tuple[int, str]:
        """(chain id, registry address) for EIP-712 hashing; cached by the client."""
        client = self.client
        return client.chain_id, client.registry_address

    # ------------------------------------------------------------------ keys

    @property
    def keystore(self) -> Keystore:
        if self._keystore is None:
            self._keystore = Keystore(
                Path(self.config["BILLCHAIN_KEYSTORE_DIR"]), kdf_n=self.config["BILLCHAIN_KEYSTORE_KDF_N"]
            )
        return self._keystore

    def keystore_password(self) -> str:
        password = self.config["BILLCHAIN_KEYSTORE_PASSWORD"]
        if not password:
            raise SigningKeyUnavailableError(
                "BILLCHAIN_KEYSTORE_PASSWORD is not set, so no organisation key can sign: set it and restart"
            )
        return str(password)

    def account(self, address: str) -> LocalAccount:
        """The signing account of an organisation (or the admin) from the encrypted keystore."""
        admin = self.admin_account_from_env()
        if admin is not None and admin.address.lower() == address.lower():
            return admin
        try:
            return self.keystore.load(address, self.keystore_password())
        except KeystoreError as exc:
            raise SigningKeyUnavailableError(
                f"the key of {address} cannot be unlocked ({exc}): check BILLCHAIN_KEYSTORE_PASSWORD and "
                "BILLCHAIN_KEYSTORE_DIR"
            ) from exc

    def admin_account_from_env(self) -> LocalAccount | None:
        key = self.config["BILLCHAIN_ADMIN_KEY"]
        if not key:
            return None
        account: LocalAccount = Account.from_key(key)
        return account

    def wake_worker(self) -> None:
        """Start the worker's next round now, if this process runs one (new work was queued)."""
        if self.worker is not None:
            self.worker.wake()

    def tx_url(self, tx_hash: str | None) -> str | None:
        template = self.config["BILLCHAIN_TX_URL"]
        if not tx_hash:
            return None
        return str(template).format(tx=tx_hash) if template else f"/chain/tx/{tx_hash}"


def runtime() -> Runtime:
    """The running app's Runtime (inside an app context)."""
    found: Runtime = current_app.extensions["billchain"]
    return found


def _tune_sqlite(engine: Engine) -> None:
    """WAL lets readers run beside the worker's writes; busy_timeout makes writers wait, not fail."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
