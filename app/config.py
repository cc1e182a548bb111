"""Settings: defaults, then BILLCHAIN_* environment variables, then explicit overrides.

Every setting is listed here once, with its type, so README and code cannot drift apart.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    kind: type
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("SECRET_KEY", None, str, "Flask session/CSRF key; generated into the instance folder if unset."),
    Setting("DATABASE_URL", None, str, "SQLAlchemy URL; default SQLite in the instance folder."),
    Setting("RPC_URL", "http://127.0.0.1:8545", str, "Ethereum JSON-RPC endpoint of the chain."),
    Setting("REGISTRY", None, str, "BillRegistry address; default from the deployment record."),
    Setting("CHAIN_ID", None, int, "Expected chain id; default asked from the node or the record."),
    Setting("DEPLOY_BLOCK", None, int, "Block the registry was deployed at (where the event indexer starts)."),
    Setting("DEPLOYMENTS_DIR", "deployments", str, "Folder of deployment records <chain_id>.json."),
    Setting("ARTIFACT", ".build/BillRegistry.json", str, "Compiled registry (ABI + bytecode)."),
    Setting("KEYSTORE_DIR", None, str, "Encrypted organisation keys; default instance/keystore."),
    Setting("KEYSTORE_PASSWORD", None, str, "Password of the keystores (required to issue or claim)."),
    Setting("KEYSTORE_KDF_N", None, int, "scrypt cost of new keystores (default geth's 2**18; tests lower it)."),
    Setting("ADMIN_KEY", None, str, "Finance admin's private key (hex), if not in the keystore."),
    Setting("BASE_URL", "http://127.0.0.1:5000", str, "Public base URL printed into QR codes."),
    Setting("TX_URL", None, str, "Explorer link template for transactions, e.g. https://x/tx/{tx}."),
    Setting("CHAIN_TIMEOUT", 5.0, float, "Seconds before a chain call counts as 'chain down'."),
    Setting("ANCHOR_INTERVAL", 1.0, float, "Seconds between anchoring rounds (one root per issuer)."),
    Setting("ANCHOR_BATCH_SIZE", 5000, int, "Most bills under one Merkle root."),
    Setting("WORKER", True, bool, "Run the anchoring worker inside this process (thread)."),
    Setting("WORKER_LEASE", 15.0, float, "Seconds a dead worker's lease blocks the next one from sending."),
    Setting("CLAIM_WAIT", 20.0, float, "Seconds a claim/void request waits for chain confirmation."),
    Setting("FUND_WEI", 10**17, int, "Wei the admin sends new organisation keys on chains with paid gas."),
    Setting("VERIFY_CACHE", 1.0, float, "Seconds a verification may reuse a bill's chain record (0: never)."),
    Setting("RATELIMIT_VERIFY", "120 per minute", str, "Rate limit of public verify endpoints per client."),
    Setting("RATELIMIT_STORAGE_URL", "memory://", str, "Rate limit storage; redis://... for many instances."),
    Setting("MAX_BULK", 1000, int, "Most bills in one API request."),
    Setting("PDF_FONT", None, str, "CJK TrueType font for bill PDFs; default the first of PDF_FONT_CANDIDATES found."),
)

PDF_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian fonts-wqy-microhei (make setup installs it)
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian fonts-wqy-zenhei
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian fonts-noto-cjk
)


def _parse(setting: Setting, raw: str) -> Any:
    if setting.kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return setting.kind(raw)


def load_config(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then BILLCHAIN_* from the environment, then overrides (tests pass these)."""
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        value = setting.default
        raw = os.environ.get(f"BILLCHAIN_{setting.name}")
        if raw not in (None, ""):
            value = _parse(setting, raw)
        config[f"BILLCHAIN_{setting.name}"] = value
    config.update(overrides or {})

    instance = Path(instance_path)
    if not config["BILLCHAIN_DATABASE_URL"]:
        config["BILLCHAIN_DATABASE_URL"] = f"sqlite:///{instance / 'billchain.sqlite'}"
    if not config["BILLCHAIN_KEYSTORE_DIR"]:
        config["BILLCHAIN_KEYSTORE_DIR"] = str(instance / "keystore")
    if not config["BILLCHAIN_PDF_FONT"]:
        config["BILLCHAIN_PDF_FONT"] = next((p for p in PDF_FONT_CANDIDATES if os.path.exists(p)), None)
    if not config["BILLCHAIN_SECRET_KEY"]:
        config["BILLCHAIN_SECRET_KEY"] = _instance_secret(instance)
    return config


def _instance_secret(instance: Path) -> str:
    """A per-installation secret kept in the instance folder, so sessions survive restarts."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret
