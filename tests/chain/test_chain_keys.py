"""Encrypted keystores: round trip, wrong password, file mode, raw admin key from the environment."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from eth_account import Account

from app.keys import KeyNotFoundError, Keystore, KeystoreError, WrongPasswordError, account_from_env

FAST_N = 2**14  # tests only; the app keeps eth-account's default scrypt n = 2**18


@pytest.fixture
def keystore(tmp_path: Path) -> Keystore:
    return Keystore(tmp_path / "keystore", kdf_n=FAST_N)


def test_create_then_load_round_trips(keystore: Keystore) -> None:
    address = keystore.create("correct horse")
    fresh = Keystore(keystore.directory)  # a new process: nothing cached
    assert fresh.load(address, "correct horse").address == address
    assert fresh.addresses() == [address]


def test_load_caches_the_decrypted_account(keystore: Keystore) -> None:
    address = keystore.create("pw")
    fresh = Keystore(keystore.directory)
    assert fresh.load(address, "pw") is fresh.load(address, "pw")


def test_wrong_password_is_a_clear_error(keystore: Keystore) -> None:
    address = keystore.create("right")
    with pytest.raises(WrongPasswordError, match="wrong password") as caught:
        Keystore(keystore.directory).load(address, "wrong")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_unknown_address_is_key_not_found(keystore: Keystore) -> None:
    with pytest.raises(KeyNotFoundError):
        keystore.load(Account.create().address, "pw")


def test_files_are_private(keystore: Keystore) -> None:
    address = keystore.create("pw")
    path = keystore.directory / f"{address}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keystore.directory.stat().st_mode) == 0o700
    assert address[2:].lower() not in repr(keystore)


def test_save_never_overwrites_a_key(keystore: Keystore) -> None:
    account = Account.create()
    keystore.save(account, "pw")
    with pytest.raises(FileExistsError):
        keystore.save(account, "other")


def test_empty_password_is_refused(keystore: Keystore) -> None:
    with pytest.raises(KeystoreError):
        keystore.create("")


def test_account_from_env() -> None:
    account = Account.create()
    assert account_from_env("K", {"K": account.key.to_0x_hex()}).address == account.address  # type: ignore[union-attr]
    assert account_from_env("K", {}) is None
    with pytest.raises(KeystoreError) as caught:
        account_from_env("K", {"K": "0xnot-a-key"})
    assert "not-a-key" not in str(caught.value)
