"""Test kit for BillRegistryV2: enums, credit codes, 3-field StandardMerkleTree, EIP-712 requests, strict reverts.

Written independently of the contract and of app/: the Merkle oracle is cross-checked against npm
@openzeppelin/merkle-tree, and the EIP-712 digests come from eth-account's `encode_typed_data`, not from the
registry. The strict `reverts()` is the pattern of ../registry_testkit.py, copied so v2 stands on its own.
"""

from __future__ import annotations

from ast import literal_eval
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from typing import Any

import ape
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

MNEMONIC = "test test test test test test test test test test test junk"  # ape-config.yaml test.mnemonic
ZERO32 = b"\x00" * 32
ZERO_ADDRESS = "0x" + "00" * 20
DAY = 24 * 3600
ADMIN_DELAY = 3 * DAY
MAX_LOCK = 30 * DAY


class OrgKind(IntEnum):
    NONE = 0
    ISSUER = 1
    CLAIMANT = 2


class Status(IntEnum):
    UNKNOWN = 0
    ISSUED = 1
    PARTLY_REIMBURSED = 2
    REIMBURSED = 3
    CONVERTED_TO_PAPER = 4
    VOIDED = 5


# ---------------------------------------------------------------- unified social credit codes (GB 32100-2015)

CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = [pow(3, i, 31) for i in range(17)]


def check_char(first17: str) -> str:
    total = sum(CREDIT_CHARS.index(c) * w for c, w in zip(first17, CREDIT_WEIGHTS, strict=True))
    return CREDIT_CHARS[(31 - total % 31) % 31]


def credit_code(n: int) -> str:
    """A valid, distinct credit code for test organisation n."""
    first17 = f"9111000{n:010d}"
    return first17 + check_char(first17)


# ---------------------------------------------------------------- bills and trees (StandardMerkleTree layout)


@dataclass(frozen=True)
class Bill:
    """A bill as v2 sees it: reference, content hash and total in fen."""

    ref: bytes
    content_hash: bytes
    total_fen: int

    @property
    def leaf(self) -> bytes:
        return leaf(self.ref, self.content_hash, self.total_fen)

    @property
    def values(self) -> tuple[bytes, bytes, int]:
        return self.ref, self.content_hash, self.total_fen


def leaf(bill_ref: bytes, content_hash: bytes, total_fen: int) -> bytes:
    return keccak(keccak(encode(["bytes32", "bytes32", "uint256"], [bill_ref, content_hash, total_fen])))


def make_bill(label: str, total_fen: int = 10_000, version: int = 0) -> Bill:
    """Deterministic: same label → same billRef; another version → another content hash."""
    return Bill(keccak(text=f"v2ref:{label}"), keccak(text=f"v2content:{label}:{version}"), total_fen)


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(min(a, b) + max(a, b))


class MerkleTree:
    """StandardMerkleTree over bills: sorted leaves in a flat complete binary tree, last leaf first."""

    def __init__(self, bills: Sequence[Bill]):
        if not bills:
            raise ValueError("a tree needs at least one bill")
        leaves = sorted({b.leaf for b in bills})
        n = len(leaves)
        self.nodes: list[bytes] = [b""] * (2 * n - 1)
        for i, node in enumerate(leaves):
            self.nodes[len(self.nodes) - 1 - i] = node
        for i in range(len(self.nodes) - 1 - n, -1, -1):
            self.nodes[i] = hash_pair(self.nodes[2 * i + 1], self.nodes[2 * i + 2])
        self._index = {node: len(self.nodes) - 1 - i for i, node in enumerate(leaves)}
        self.bills = list(bills)

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    def proof(self, bill: Bill) -> list[bytes]:
        i = self._index[bill.leaf]
        path = []
        while i > 0:
            path.append(self.nodes[i + 1 if i % 2 else i - 1])
            i = (i - 1) // 2
        return path

    def args(self, bill: Bill) -> tuple[bytes, list[bytes], bytes, bytes, int]:
        """(root, proof, billRef, contentHash, totalFen): what every bill function takes after issuerId."""
        return self.root, self.proof(bill), bill.ref, bill.content_hash, bill.total_fen


# ---------------------------------------------------------------- keys and EIP-712 requests


@cache
def key_of(index: int) -> Any:
    """The LocalAccount of Ape test account `index` (the mnemonic's m/44'/60'/0'/0/index)."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


@cache
def _key_by_address() -> dict[str, Any]:
    return {key_of(i).address: key_of(i) for i in range(64)}


def private_key(account: Any) -> bytes:
    return bytes(
        _key_by_address()[to_checksum_address(account.address if hasattr(account, "address") else account)].key
    )


_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
ADMISSION_FIELDS = [
    {"name": "account", "type": "address"},
    {"name": "name", "type": "string"},
    {"name": "creditCode", "type": "string"},
    {"name": "kind", "type": "uint8"},
    {"name": "deadline", "type": "uint256"},
]
ROTATION_FIELDS = [
    {"name": "orgId", "type": "uint32"},
    {"name": "newKey", "type": "address"},
    {"name": "deadline", "type": "uint256"},
]


def _typed(registry: Any, primary: str, fields: list[dict], message: dict) -> Any:
    domain = {
        "name": "BillRegistry",
        "version": "2",
        "chainId": ape.chain.chain_id,
        "verifyingContract": registry.address,
    }
    typed = {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, primary: fields},
        "primaryType": primary,
        "domain": domain,
        "message": message,
    }
    return encode_typed_data(full_message=typed)


def sign_typed(registry: Any, signer: Any, primary: str, fields: list[dict], message: dict) -> bytes:
    return bytes(Account.sign_message(_typed(registry, primary, fields, message), private_key(signer)).signature)


def admission_signer(registry: Any, request: tuple, signature: bytes) -> str:
    """Who `signature` recovers to over `request` as the registry hashes it (for altered-request tests)."""
    message = dict(zip([f["name"] for f in ADMISSION_FIELDS], request, strict=True))
    return str(
        Account.recover_message(_typed(registry, "AdmissionRequest", ADMISSION_FIELDS, message), signature=signature)
    )


def rotation_signer(registry: Any, request: tuple, signature: bytes) -> str:
    message = dict(zip([f["name"] for f in ROTATION_FIELDS], request, strict=True))
    return str(
        Account.recover_message(_typed(registry, "KeyRotationRequest", ROTATION_FIELDS, message), signature=signature)
    )


def deadline_in(seconds: int = 3600) -> int:
    return ape.chain.pending_timestamp + seconds


def admission(
    registry: Any,
    account: Any,
    name: str,
    code: str,
    kind: int,
    deadline: int | None = None,
    signer: Any | None = None,
) -> tuple[tuple, bytes]:
    """(request, signature) for registerOrganisation; `signer` defaults to the account itself."""
    deadline = deadline_in() if deadline is None else deadline
    message = {"account": account.address, "name": name, "creditCode": code, "kind": int(kind), "deadline": deadline}
    signature = sign_typed(registry, signer or account, "AdmissionRequest", ADMISSION_FIELDS, message)
    return (account.address, name, code, int(kind), deadline), signature


def rotation(
    registry: Any, org_id: int, new_key: Any, deadline: int | None = None, signer: Any | None = None
) -> tuple[tuple, bytes]:
    """(request, signature) for rotateKey; `signer` defaults to the new key."""
    deadline = deadline_in() if deadline is None else deadline
    message = {"orgId": org_id, "newKey": new_key.address, "deadline": deadline}
    signature = sign_typed(registry, signer or new_key, "KeyRotationRequest", ROTATION_FIELDS, message)
    return (org_id, new_key.address, deadline), signature


def register(registry: Any, admin: Any, account: Any, name: str, code: str, kind: int) -> int:
    """Admit `account` with its own signed request; the new orgId."""
    request, signature = admission(registry, account, name, code, kind)
    registry.registerOrganisation(request, signature, sender=admin)
    return int(registry.organisationCount())


def fresh_account(funder: Any) -> Any:
    """A never-used test account (next mnemonic index), funded so it can send transactions."""
    account = ape.accounts.test_accounts.generate_test_account()
    funder.transfer(account, 10**18)
    return account


# ---------------------------------------------------------------- time


def now() -> int:
    return ape.chain.blocks.head.timestamp


def travel(seconds: int) -> None:
    """Move the chain's clock forward and mine; Ganache has no Ape time API, so it gets its own RPC."""
    provider = ape.chain.provider
    if "ganache" in (getattr(provider, "client_version", "") or "").lower():
        provider.make_request("evm_increaseTime", [seconds])
        provider.make_request("evm_mine", [])
    else:
        ape.chain.mine(timestamp=now() + seconds)


# ---------------------------------------------------------------- strict revert and event checks


def _normalise(value: Any) -> Any:
    if hasattr(value, "address"):
        return to_checksum_address(value.address)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return value


def _redecode(exc: Any, error: Any) -> Any:
    """ape 0.8.51's in-process provider leaves revert data containing 0x27 (') undecoded: decode it here."""
    message = exc.revert_message or ""
    if not (message.startswith('b"') and message.endswith('"')):
        return None
    data = HexBytes(literal_eval(message))
    return ape.chain.provider.network.ecosystem.decode_custom_error(data, error.contract.address)


@contextmanager
def reverts(error: Any, **inputs: Any) -> Iterator[Any]:
    """`ape.reverts` made strict: the custom error must decode, by name, with every argument named and equal."""
    with ape.reverts(error) as info:
        yield info
    exc = info.value
    if not isinstance(exc, ape.exceptions.CustomError):
        exc = info.value = _redecode(exc, error) or exc
    assert isinstance(exc, ape.exceptions.CustomError), f"expected {error.__name__}, got {exc!r}"
    assert exc.name == error.__name__, f"expected {error.__name__}, got {exc.name}"
    actual = {k: _normalise(v) for k, v in exc.inputs.items()}
    expected = {k: _normalise(v) for k, v in inputs.items()}
    assert actual == expected, f"{exc.name}: expected {expected}, got {actual}"


def assert_events(receipt: Any, *expected: Any) -> None:
    """The receipt emitted exactly these events, in order, with every argument as given."""
    actual = [(log.event_name, {k: _normalise(v) for k, v in log.event_arguments.items()}) for log in receipt.events]
    wanted = [(mock.event_name, {k: _normalise(v) for k, v in mock.event_arguments.items()}) for mock in expected]
    assert actual == wanted


def timestamp_of(receipt: Any) -> int:
    return ape.chain.blocks[receipt.block_number].timestamp


def record(registry: Any, issuer_id: int, tree: MerkleTree, bill: Bill) -> Any:
    """verify() of a bill of `tree`."""
    return registry.verify(issuer_id, *tree.args(bill))


# ---------------------------------------------------------------- the session deployment (conftest.registry_v2)

# Organisations admitted by `registry_v2`, in this order, so their ids are known.
ISSUER_ID, OTHER_ISSUER_ID, CLAIMANT_ID, OTHER_CLAIMANT_ID = 1, 2, 3, 4
ORGS = [
    ("issuer", "北京市第一中学", OrgKind.ISSUER),
    ("other_issuer", "北京协和医院", OrgKind.ISSUER),
    ("claimant", "中国人民保险北京分公司", OrgKind.CLAIMANT),
    ("other_claimant", "北京大学财务处", OrgKind.CLAIMANT),
]
