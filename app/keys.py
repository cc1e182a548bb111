"""Organisation signing keys: Ethereum V3 keystore files in a directory, decrypted once per process.

Keys never appear in logs, reprs or exception messages. The password comes from the environment
(the app passes BILLCHAIN_KEYSTORE_PASSWORD); a raw key in the environment is allowed for the finance
admin (`account_from_env`).

KDF choice: eth-account's default scrypt (n = 2**18, r = 8, p = 1, as geth writes) takes about 0.46 s to
decrypt here, under the 1 s budget, so we keep it: files stay readable by geth/clef/MetaMask with the
standard cost, and the cost is paid once per key per process thanks to the cache. Tests may pass a lower
`kdf_n` (e.g. 2**14) to create keys quickly; the files record their own parameters, so they still load.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address

from app.bills import seal
from app.bills.errors import SealKeyError
from app.bills.seal import SealKey

DEFAULT_DIR = Path("instance/keystore")


class KeystoreError(Exception):
    """A keystore problem the operator must fix (no such key, wrong password, unreadable file)."""


class KeyNotFoundError(KeystoreError):
    """No keystore file for that address."""


class WrongPasswordError(KeystoreError):
    """The password does not decrypt the keystore (the MAC check failed)."""


class Keystore:
    """V3 keystore files named `<checksum address>.json`, mode 0600, in a 0700 directory."""

    def __init__(self, directory: str | Path = DEFAULT_DIR, *, kdf_n: int | None = None) -> None:
        self.directory = Path(directory)
        self.kdf_n = kdf_n
        self._cache: dict[str, LocalAccount] = {}
        self._seals: dict[str, SealKey] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Keystore({str(self.directory)!r}, {len(self._cache)} unlocked)"

    def _path(self, address: str) -> Path:
        if not is_address(address):
            raise KeyNotFoundError(f"not an address: {address!r}")
        return self.directory / f"{to_checksum_address(address)}.json"

    def create(self, password: str) -> str:
        """Make a fresh key, store it encrypted, return its checksum address (the key stays cached)."""
        if not password:
            raise KeystoreError("an empty password would leave the key unprotected")
        account: LocalAccount = Account.create()
        self.save(account, password)
        return str(account.address)

    def save(self, account: LocalAccount, password: str) -> Path:
        """Store an existing key (e.g. imported by an operator); refuses to overwrite one."""
        encrypted = Account.encrypt(account.key, password, kdf="scrypt", iterations=self.kdf_n)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(account.address)
        # O_EXCL: never replace a key that may hold the only copy; 0600 from the first byte.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(encrypted, handle)
        with self._lock:
            self._cache[account.address] = account
        return path

    def load(self, address: str, password: str) -> LocalAccount:
        """The account for `address`, decrypted on first use and cached in memory afterwards."""
        checksum = to_checksum_address(address) if is_address(address) else address
        with self._lock:
            cached = self._cache.get(checksum)
        if cached is not None:
            return cached
        path = self._path(address)
        try:
            encrypted = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeyNotFoundError(f"no keystore for {checksum} in {self.directory}") from None
        except (OSError, ValueError) as exc:
            raise KeystoreError(f"keystore for {checksum} unreadable: {type(exc).__name__}") from None
        try:
            key = Account.decrypt(encrypted, password)
        except ValueError:
            # eth-account says "MAC mismatch"; `from None` keeps key material out of tracebacks.
            raise WrongPasswordError(f"wrong password for the keystore of {checksum}") from None
        account: LocalAccount = Account.from_key(key)
        if account.address != checksum:
            raise KeystoreError(f"keystore file for {checksum} holds the key of {account.address}")
        with self._lock:
            self._cache[checksum] = account
        return account

    def addresses(self) -> list[str]:
        """Checksum addresses with a keystore file, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json") if is_address(p.stem))

    def forget(self) -> None:
        """Drop the decrypted keys from memory (e.g. on shutdown or password rotation)."""
        with self._lock:
            self._cache.clear()
            self._seals.clear()

    # ------------------------------------------------------------------ SM2 seal keys, beside the chain keys

    def seal_path(self, address: str) -> Path:
        """`seal-<checksum address>.json`: the organisation's SM2 seal key, next to its chain key."""
        if not is_address(address):
            raise KeyNotFoundError(f"not an address: {address!r}")
        return self.directory / f"seal-{to_checksum_address(address)}.json"

    def create_seal(self, address: str, password: str) -> SealKey:
        """A fresh SM2 seal key for `address`, stored encrypted (scrypt + AES-GCM); refuses to overwrite one."""
        if not password:
            raise KeystoreError("an empty password would leave the seal key unprotected")
        key = SealKey.generate()
        text = seal.encrypt_private_key(key, password, scrypt_n=self.kdf_n or seal.SCRYPT_N)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.seal_path(address)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # FileExistsError: one exists
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        with self._lock:
            self._seals[to_checksum_address(address)] = key
        return key

    def load_seal(self, address: str, password: str) -> SealKey:
        """The SM2 seal key of `address`, decrypted on first use and cached in memory afterwards."""
        path = self.seal_path(address)
        checksum = to_checksum_address(address)
        with self._lock:
            cached = self._seals.get(checksum)
        if cached is not None:
            return cached
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise KeyNotFoundError(f"no seal key {path.name} in {self.directory}") from None
        except OSError as exc:
            raise KeystoreError(f"seal key {path.name} unreadable: {type(exc).__name__}") from None
        try:
            key = seal.decrypt_private_key(text, password)
        except SealKeyError as exc:
            if "wrong password" in str(exc):
                raise WrongPasswordError(f"wrong password for the seal key of {checksum}") from None
            raise KeystoreError(f"seal key {path.name}: {exc}") from None
        with self._lock:
            self._seals[checksum] = key
        return key


def account_from_env(var: str, environ: dict[str, str] | None = None) -> LocalAccount | None:
    """The account of a raw hex private key in environment variable `var`, None when it is unset/empty."""
    value = (environ if environ is not None else os.environ).get(var, "").strip()
    if not value:
        return None
    try:
        account: LocalAccount = Account.from_key(value)
    except (ValueError, TypeError):
        raise KeystoreError(f"{var} is not a valid hex private key") from None  # never echo the value
    return account
