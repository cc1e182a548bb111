"""Settings: defaults, then the instance environment file, then BILLCHAIN_* environment variables, then
explicit overrides.

Every setting is listed here once, with its type, so README and code cannot drift apart. The instance
file (`instance/billchain.env`, KEY=VALUE lines) is what `make run` writes for the tools beside it
(`flask --app app ...`, `ape console`): its development chain, admin key and keystore password. It is
read only when present; production never has one unless someone creates it.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dotenv import dotenv_values


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
    Setting(
        "REGISTRY_VERSION",
        None,
        int,
        "1 (BillRegistry) or 2 (BillRegistryV2: locks, parts, paper); default from the deployment record.",
    ),
    Setting(
        "MEMBER_PLATFORMS",
        "",
        str,
        "Base URLs of other member platforms (comma-separated) whose QR codes this platform checks via their proofs.",
    ),
    Setting("CHAIN_ID", None, int, "Expected chain id; default asked from the node or the record."),
    Setting("DEPLOY_BLOCK", None, int, "Block the registry was deployed at (where the event indexer starts)."),
    Setting(
        "CONFIRMATIONS",
        0,
        int,
        "Blocks the event indexer stays behind the head (0 for instant finality: Besu QBFT, Anvil).",
    ),
    Setting("DEPLOYMENTS_DIR", "deployments", str, "Folder of deployment records <chain_id>.json."),
    Setting("ARTIFACT", ".build/BillRegistry.json", str, "Compiled registry (ABI + bytecode)."),
    Setting("KEYSTORE_DIR", None, str, "Encrypted organisation keys; default instance/keystore."),
    Setting("KEYSTORE_PASSWORD", None, str, "Password of the keystores (required to issue or claim)."),
    Setting("KEYSTORE_KDF_N", None, int, "scrypt cost of new keystores (default geth's 2**18; tests lower it)."),
    Setting("ADMIN_KEY", None, str, "Finance admin's private key (hex), if not in the keystore."),
    Setting("BASE_URL", "http://127.0.0.1:5000", str, "Public base URL printed into QR codes."),
    Setting("TX_URL", None, str, "Explorer link template for transactions, e.g. https://x/tx/{tx}."),
    Setting("CHAIN_TIMEOUT", 5.0, float, "Seconds before a chain call counts as 'chain down'."),
    Setting("ANCHOR_INTERVAL", 1.0, float, "Most seconds between anchoring rounds (new bills start one at once)."),
    Setting("ANCHOR_BATCH_SIZE", 5000, int, "Most bills under one Merkle root."),
    Setting("WORKER", True, bool, "Run the anchoring worker inside this process (thread)."),
    Setting("WORKER_LEASE", 15.0, float, "Seconds a dead worker's lease blocks the next one from sending."),
    Setting("CLAIM_WAIT", 20.0, float, "Seconds a claim/void request waits for chain confirmation."),
    Setting("FUND_WEI", 10**17, int, "Wei the admin sends new organisation keys on chains with paid gas."),
    Setting(
        "VERIFY_CACHE",
        0.25,
        float,
        "Seconds verification reuses the chain head's number; answers name their block (0: ask every time).",
    ),
    Setting("RATELIMIT_VERIFY", "120 per minute", str, "Rate limit of public verify endpoints per client."),
    Setting(
        "RATELIMIT_STORAGE_URL",
        None,
        str,
        "Rate limit storage shared by all processes; default redis://127.0.0.1:6379 if it answers, else memory://.",
    ),
    Setting("RATELIMIT_ROUTES", "300 per minute", str, "Rate limit per client of health, tx pages, claims, imports."),
    Setting("TRUSTED_PROXIES", 0, int, "Reverse proxies in front of the app whose X-Forwarded-For is believed."),
    Setting("WALLET_SESSION_MINUTES", 30, int, "Minutes of inactivity after which a wallet closes."),
    Setting("JOB_MAX_FAILURES", 5, int, "Failed rounds after which an outbox job is set aside as dead."),
    Setting("MAX_BULK", 1000, int, "Most bills in one API request."),
    Setting("MAX_BODY", 2 * 2**20, int, "Most bytes in a form or JSON API request body (bulk issue: 8 KB a bill)."),
    Setting("MAX_UPLOAD", 8 * 2**20, int, "Most bytes of a photo or bill-file upload (verify, claim, wallet)."),
    Setting("IMPORT_MAX_BYTES", 16 * 2**20, int, "Most bytes of a CSV/XLSX import file."),
    Setting("IMPORT_MAX_ROWS", 10_000, int, "Most bills in one import file; more rows are refused, not read."),
    Setting("PDF_FONT", None, str, "CJK TrueType font for bill PDFs; default the first of PDF_FONT_CANDIDATES found."),
    Setting("SMTP_HOST", None, str, "SMTP server for e-mailing bills to payers; unset: no e-mail is sent."),
    Setting("SMTP_PORT", 587, int, "SMTP port."),
    Setting("SMTP_USER", None, str, "SMTP login (with SMTP_PASSWORD); unset: no login."),
    Setting("SMTP_PASSWORD", None, str, "SMTP password."),
    Setting("SMTP_FROM", "Billchain <bills@localhost>", str, "From address of bill e-mails."),
    Setting("SMTP_STARTTLS", True, bool, "Upgrade the SMTP connection with STARTTLS before logging in."),
    Setting("SMS_GATEWAY", "log", str, "Text messages to payers: 'log' (logs them, phone masked) or 'http'."),
    Setting("SMS_URL", None, str, "The HTTP SMS provider's endpoint (JSON POST), for SMS_GATEWAY=http."),
    Setting("SMS_TOKEN", None, str, "Bearer token for SMS_URL."),
    Setting("DELIVERY_INTERVAL", 1.0, float, "Seconds between rounds of the delivery worker."),
    Setting("DELIVERY_MAX_ATTEMPTS", 6, int, "Tries per message before a delivery is marked failed."),
    Setting("DELIVERY_BACKOFF", 30.0, float, "Seconds before the first retry; doubled each time (at most 1 h)."),
    Setting("DEV_OUTBOX", False, bool, "Development only: list sent texts and e-mails at /dev/outbox."),
    Setting("DEV_ANVIL_PORT", 8545, int, "Port of the Anvil that `make run` starts (development only)."),
    Setting("REPORT_MAX_DAYS", 366, int, "Longest date range of the finance dashboard and its CSV export."),
)

INSTANCE_ENV_FILE = "billchain.env"
"""The instance environment file: `make run` writes it (mode 0600, development only)."""

PDF_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian fonts-wqy-microhei (make setup installs it)
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian fonts-wqy-zenhei
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian fonts-noto-cjk
)


def _parse(setting: Setting, raw: str) -> Any:
    if setting.kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return setting.kind(raw)


def instance_env(instance_path: str | Path) -> dict[str, str]:
    """The BILLCHAIN_* entries of the instance environment file; empty when there is none."""
    path = Path(instance_path) / INSTANCE_ENV_FILE
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if k.startswith("BILLCHAIN_") and v not in (None, "")}


def env_setting(name: str) -> Any:
    """One setting from the environment alone, else its default (for `make run` before the app exists)."""
    setting = next(s for s in SETTINGS if s.name == name)
    raw = os.environ.get(f"BILLCHAIN_{name}")
    return _parse(setting, raw) if raw not in (None, "") else setting.default


def load_config(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then the instance file, then BILLCHAIN_* from the environment, then overrides (tests)."""
    config: dict[str, Any] = {}
    from_file = instance_env(instance_path)
    for setting in SETTINGS:
        value = setting.default
        for layer in (from_file, os.environ):
            raw = layer.get(f"BILLCHAIN_{setting.name}")
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
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        create_private_file(path, secrets.token_hex(32))
    return path.read_text().strip()


def create_private_file(path: Path, text: str) -> bool:
    """Write a new secret file readable by its owner only from the first byte (0600, never chmod'ed after).

    Returns False, writing nothing, when the file already exists (another process made it first).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return True
