"""The BillRegistry client over web3.py: reads for verifiers, signed transactions for the outbox worker.

Everything the app knows about the chain goes through `RegistryClient`. Three kinds of failure come out:
`ChainUnavailableError` (from the domain) when the node cannot be reached or answers too slowly, so the
web layer can answer 503 at once; `RegistryRevert` when the registry refuses a call, decoded from its
custom errors; and the other `ChainError`s for transactions that go wrong after they were sent.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from app.bills.chainview import ChainBillRecord, ChainOrganisation, ChainStatus
from app.bills.errors import ChainUnavailableError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARTIFACT = Path(".build/BillRegistry.json")
# Ape 0.8 writes every contract type into one manifest; we read BillRegistry out of it when no
# stand-alone artefact exists.
APE_MANIFEST = Path(".build/__local__.json")
CONTRACT_NAME = "BillRegistry"

ZERO_ADDRESS = "0x" + "00" * 20
GAS_MARGIN = 1.25  # estimates are exact for the state they saw; a claim racing another can cost more
GAS_MARGIN_FLAT = 10_000
LOG_CHUNK = 2_000  # blocks per eth_getLogs: well under the 10k-block caps common on public RPCs

_KIND_NAMES = {1: "issuer", 2: "claimant"}
T = TypeVar("T")


# ---------------------------------------------------------------- errors


class ChainError(Exception):
    """Base of everything the chain answered that the caller must handle (not: node unreachable)."""


class RegistryRevert(ChainError):
    """The registry refused a call with one of its custom errors (or a plain revert/panic).

    `name` is the Solidity error name (`BillAlreadyClaimed`, `AccessControlUnauthorizedAccount`, ...),
    `args` its arguments by name; bytes32 as bytes, addresses checksummed, integers as int.
    """

    def __init__(self, name: str, args: dict[str, Any], data: str | None = None) -> None:
        self.name = name
        self.error_args = args  # not `.args`: BaseException owns that name and keeps it a tuple
        self.data = data
        super().__init__(f"{name}({', '.join(f'{k}={_fmt(v)}' for k, v in args.items())})")


class TransactionFailed(ChainError):
    """A transaction was mined but reverted; `revert` is the decoded reason when a replay found one."""

    def __init__(self, receipt: Receipt, revert: RegistryRevert | None = None) -> None:
        self.receipt = receipt
        self.revert = revert
        why = f": {revert}" if revert else ""
        super().__init__(f"transaction {receipt.tx_hash.hex()} reverted in block {receipt.block_number}{why}")


class TransactionTimeout(ChainError):
    """No receipt within the time allowed; the transaction may still be mined later."""


class NonceConflict(ChainError):
    """The nonce was taken by another transaction (mined or pending): re-sign with a fresh nonce."""


class NodeError(ChainError):
    """The node answered a JSON-RPC error that is not a revert (unknown method, bad params, ...)."""


class TransactionRejected(NodeError):
    """The node refused the raw transaction for another reason (funds, fee cap, gas limit, ...)."""


def _fmt(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else repr(value)


# ---------------------------------------------------------------- value types


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction as the outbox stores it: resend `raw` as often as needed, track by `hash`."""

    hash: bytes
    raw: bytes
    sender: str
    nonce: int

    @property
    def hash_hex(self) -> str:
        return "0x" + self.hash.hex()

    @property
    def raw_transaction(self) -> bytes:
        """eth-account's name for `raw`, so code written against SignedTransaction keeps working."""
        return self.raw


@dataclass(frozen=True)
class RegistryEvent:
    """One decoded registry log; `block_time` only when the caller asked for it."""

    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: bytes
    log_index: int
    block_time: datetime | None = None


@dataclass(frozen=True)
class Receipt:
    """What the worker records once a transaction is mined."""

    tx_hash: bytes
    status: bool
    block_number: int
    block_time: datetime
    gas_used: int
    events: list[RegistryEvent] = field(default_factory=list)
    contract_address: str | None = None


@dataclass(frozen=True)
class Settlement:
    """The claim or void of one bill."""

    status: ChainStatus
    by: str
    at: datetime


@dataclass(frozen=True)
class Deployment:
    """Where a registry lives on one chain; persisted as deployments/<chain_id>.json."""

    address: str
    block: int
    tx_hash: str
    chain_id: int
    admin: str | None = None
    deployed_at: datetime | None = None


# ---------------------------------------------------------------- artefact and errors table


@lru_cache(maxsize=8)
def load_artifact(path: str | Path | None = None) -> tuple[list[dict[str, Any]], str]:
    """(abi, deployment bytecode) of BillRegistry, read once per path.

    Accepts an ethpm ContractType JSON (`.build/BillRegistry.json`) or Ape's package manifest
    (`.build/__local__.json`, which is what ape 0.8 writes). Relative paths are taken from the repo root.
    """
    wanted = Path(path) if path else DEFAULT_ARTIFACT
    # Ape 0.8 writes no stand-alone file, only the manifest beside it: accept that too.
    candidates = [wanted, wanted.parent / APE_MANIFEST.name]
    for candidate in candidates:
        full = candidate if candidate.is_absolute() else REPO_ROOT / candidate
        if full.exists():
            data = json.loads(full.read_text())
            if "contractTypes" in data:
                data = data["contractTypes"][CONTRACT_NAME]
            bytecode = (data.get("deploymentBytecode") or {}).get("bytecode", "")
            return data["abi"], bytecode
    raise FileNotFoundError(f"no BillRegistry artefact at {', '.join(map(str, candidates))}: run `make compile`")


def _error_table(abi: Sequence[dict[str, Any]]) -> dict[bytes, tuple[str, list[str], list[str]]]:
    """selector → (name, arg names, arg types) for every error in the ABI plus Solidity's built-ins."""
    table: dict[bytes, tuple[str, list[str], list[str]]] = {
        bytes.fromhex("08c379a0"): ("Error", ["message"], ["string"]),
        bytes.fromhex("4e487b71"): ("Panic", ["code"], ["uint256"]),
    }
    for item in abi:
        if item.get("type") != "error":
            continue
        types = [_abi_type(i) for i in item["inputs"]]
        selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
        table[selector] = (
            item["name"],
            [i["name"] or f"arg{n}" for n, i in enumerate(item["inputs"])],
            types,
        )
    return table


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + param["type"][5:]
    return str(param["type"])


def _normalise(value: Any, abi_type: str) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    return value


def decode_revert(abi: Sequence[dict[str, Any]], data: Any) -> RegistryRevert:
    """Turn revert data (hex) into a RegistryRevert; unknown selectors keep the raw data."""
    if isinstance(data, dict):  # some nodes nest it: {"data": "0x..."} or {"message": ...}
        data = data.get("data") or data.get("result")
    if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
        return RegistryRevert("Revert", {}, data if isinstance(data, str) else None)
    raw = bytes.fromhex(data[2:])
    entry = _error_table_cached(json.dumps(abi, sort_keys=True)).get(raw[:4])
    if entry is None:
        return RegistryRevert("UnknownError", {"selector": raw[:4]}, data)
    name, names, types = entry
    try:
        values = abi_decode(types, raw[4:])
    except Exception:  # malformed payload: still say which error it was
        return RegistryRevert(name, {}, data)
    return RegistryRevert(name, {n: _normalise(v, t) for n, v, t in zip(names, values, types, strict=True)}, data)


@lru_cache(maxsize=8)
def _error_table_cached(abi_json: str) -> dict[bytes, tuple[str, list[str], list[str]]]:
    return _error_table(json.loads(abi_json))


# ---------------------------------------------------------------- helpers


def _utc(seconds: int) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


@lru_cache(maxsize=256)
def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


@lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    """Checksumming hashes the address: a handful of organisations are checksummed again and again."""
    return str(to_checksum_address(address))


def _addr(value: str) -> str | None:
    return None if int(value, 16) == 0 else _checksum(value)


def _b32(value: bytes | str) -> bytes:
    raw = HexBytes(value)
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return bytes(raw)


class RawJsonRpc:
    """JSON-RPC over one keep-alive http.client connection per thread, for the verify hot path.

    requests' per-call machinery (preparing, adapters, hooks) cost more than Anvil's answer to an
    eth_call; this does the same POST with none of it. Used only when no proxy is configured.
    """

    _retry_on = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json"}
        if parts.username:
            token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self._local = threading.local()
        self._ids = itertools.count(1)

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = kind(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def call(self, method: str, params: list[Any]) -> Any:
        """The `result` of one call; ChainUnavailableError if the node cannot be reached or is too slow."""
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}).encode()
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", self.path, body, self.headers)
                response = conn.getresponse()
                payload = response.read()
            except self._retry_on as exc:  # a keep-alive connection the node closed: one fresh try
                self._drop(conn)
                if attempt == 2:
                    raise ChainUnavailableError(f"chain node {self.url} unreachable: {type(exc).__name__}") from exc
                continue
            except (OSError, http.client.HTTPException) as exc:  # refused, timed out: no retry, answer now
                self._drop(conn)
                raise ChainUnavailableError(f"chain node {self.url} unreachable: {type(exc).__name__}") from exc
            if response.status != 200:
                raise ChainUnavailableError(f"chain node {self.url} answered HTTP {response.status}")
            answer = json.loads(payload)
            if "error" in answer:
                raise NodeError(str(answer["error"]))
            return answer["result"]
        raise AssertionError("unreachable")

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        self._local.conn = None


def make_web3(rpc_url: str, timeout: float) -> Web3:
    """A Web3 over one keep-alive session, no retries and no middleware.

    web3.py retries connection errors five times with back-off (~4 s) by default, which is exactly what
    a page waiting for a 503 must not do; the middlewares would add an eth_chainId round trip per
    transaction and ENS lookups we never use. The connect timeout is short: a local or LAN node either
    accepts at once or is down.
    """
    session = requests.Session()
    # requests re-reads the proxy environment on every call (a tenth of a verification); read it once.
    session.proxies = requests.utils.get_environ_proxies(rpc_url)
    session.trust_env = False
    provider = HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": (min(timeout, 2.0), timeout)},
        session=session,
        exception_retry_configuration=None,
    )
    return Web3(provider, middleware=[])


# ---------------------------------------------------------------- client


class RegistryClient:
    """The registry at `registry_address`, read and written through the node at `rpc_url`.

    Implements app.bills.chainview.ChainReader. Nothing touches the network until the first call, so the
    app starts even when the chain is down. Thread-safe as far as requests.Session is (the Flask app
    shares one client between request threads).
    """

    def __init__(
        self,
        rpc_url: str,
        registry_address: str,
        *,
        timeout: float = 5.0,
        artifact_path: str | Path | None = None,
        chain_id: int | None = None,
    ) -> None:
        self.rpc_url = rpc_url
        self.timeout = timeout
        self.registry_address = to_checksum_address(registry_address)
        self.abi, _ = load_artifact(artifact_path)
        self.w3 = make_web3(rpc_url, timeout)
        self.contract = self.w3.eth.contract(address=self.registry_address, abi=self.abi)
        self._chain_id = chain_id
        self._free_gas: bool | None = None
        # The raw path bypasses requests, so it cannot honour proxies: with a proxy, reads use web3.
        self._raw = None if requests.utils.get_environ_proxies(rpc_url) else RawJsonRpc(rpc_url, timeout)
        self._events_by_topic = {
            keccak(text=f"{e['name']}({','.join(_abi_type(i) for i in e['inputs'])})"): e["name"]
            for e in self.abi
            if e.get("type") == "event"
        }

    # ---------------------------------------------------------------- transport

    @contextmanager
    def _rpc(self) -> Iterator[None]:
        """Map transport failures to ChainUnavailableError and reverts to RegistryRevert."""
        try:
            yield
        except ContractLogicError as exc:
            raise decode_revert(self.abi, exc.data) from exc
        except TransactionNotFound:
            raise  # an answer, not a failure: receipt() and friends turn it into None
        except Web3RPCError as exc:
            raise NodeError(str(exc.message or exc)) from exc
        except (requests.RequestException, OSError) as exc:
            raise ChainUnavailableError(f"chain node {self.rpc_url} unreachable: {type(exc).__name__}") from exc

    def _call(self, fn: Callable[[], T]) -> T:
        with self._rpc():
            return fn()

    @staticmethod
    def probe_chain_id(rpc_url: str, *, timeout: float = 5.0) -> int:
        """The chain id at `rpc_url`, before any registry address is known (to find its deployment)."""
        w3 = make_web3(rpc_url, timeout)
        try:
            return w3.eth.chain_id
        except (requests.RequestException, OSError) as exc:
            raise ChainUnavailableError(f"chain node {rpc_url} unreachable: {type(exc).__name__}") from exc

    # ---------------------------------------------------------------- reads

    @property
    def chain_id(self) -> int:
        """Fetched once, on first use (a chain id never changes under a running node)."""
        if self._chain_id is None:
            self._chain_id = self._call(lambda: self.w3.eth.chain_id)
        return self._chain_id

    @chain_id.setter
    def chain_id(self, value: int) -> None:
        self._chain_id = value

    def block_number(self) -> int:
        return self._call(lambda: self.w3.eth.block_number)

    def is_reachable(self) -> bool:
        """For health checks: any answer from the node counts."""
        try:
            self.block_number()
        except ChainUnavailableError:
            return False
        return True

    def has_code(self) -> bool:
        """Whether the registry address holds a contract (a wrong or wiped chain holds none)."""
        return len(self._call(lambda: self.w3.eth.get_code(self.registry_address))) > 0

    def _view(self, signature: str, arg_types: list[str], args: list[Any], out_type: str) -> Any:
        """eth_call a view straight through the provider: web3's formatters and middleware cost more than
        the node's answer on the verify hot path (measured: ~60 % of a verification)."""
        return abi_decode([out_type], self._eth_call(signature, arg_types, args))[0]

    def _eth_call(self, signature: str, arg_types: list[str], args: list[Any]) -> bytes:
        data = "0x" + (_selector(signature) + abi_encode(arg_types, args)).hex()
        params: list[Any] = [{"to": self.registry_address, "data": data}, "latest"]
        if self._raw is not None:
            result = self._raw.call("eth_call", params)
        else:
            with self._rpc():
                response = self.w3.provider.make_request("eth_call", params)  # type: ignore[arg-type]
            if "error" in response:
                raise NodeError(str(response["error"]))
            result = response["result"]
        return bytes.fromhex(str(result)[2:])

    def bill_record(self, root: bytes, proof: Sequence[bytes], bill_ref: bytes, content_hash: bytes) -> ChainBillRecord:
        """The registry's `verify`: Unknown (all None) unless the root is anchored and the proof holds."""
        raw = self._eth_call(
            "verify(bytes32,bytes32[],bytes32,bytes32)",
            ["bytes32", "bytes32[]", "bytes32", "bytes32"],
            [_b32(root), [_b32(p) for p in proof], _b32(bill_ref), _b32(content_hash)],
        )
        # (uint8, address, uint64, uint64, address, uint64): six static words, read directly.
        words = [raw[i : i + 32] for i in range(0, 192, 32)]
        status, anchored_at, revoked_at, settled_at = (int.from_bytes(words[i], "big") for i in (0, 2, 3, 5))
        issuer, settled_by = "0x" + words[1][12:].hex(), "0x" + words[4][12:].hex()
        return ChainBillRecord(
            status=ChainStatus(status),
            issuer=_checksum(issuer),  # the zero address when UNKNOWN, as chainview documents
            anchored_at=_utc(anchored_at),
            issuer_revoked_at=_utc(revoked_at),
            settled_by=_addr(settled_by),
            settled_at=_utc(settled_at),
        )

    def organisation(self, address: str) -> ChainOrganisation | None:
        """The registered organisation at `address`, None if never registered."""
        name, credit_code, kind, registered_at, revoked_at = self._view(
            "organisation(address)", ["address"], [to_checksum_address(address)], "(string,string,uint8,uint64,uint64)"
        )
        if kind == 0:
            return None
        return ChainOrganisation(
            address=to_checksum_address(address),
            name=name,
            credit_code=credit_code,
            kind=_KIND_NAMES[kind],
            registered_at=datetime.fromtimestamp(registered_at, UTC),
            revoked_at=_utc(revoked_at),
        )

    def anchor_of(self, root: bytes) -> tuple[str, datetime] | None:
        """(issuer, anchored_at) of a root, None if it was never anchored."""
        issuer, anchored_at = self._call(self.contract.functions.anchorOf(_b32(root)).call)
        if _addr(issuer) is None:
            return None
        return to_checksum_address(issuer), datetime.fromtimestamp(anchored_at, UTC)

    def settlement_of(self, issuer: str, bill_ref: bytes) -> Settlement | None:
        """The claim or void of (issuer, bill_ref), None while the bill is only issued (or unknown)."""
        fn = self.contract.functions.settlementOf(to_checksum_address(issuer), _b32(bill_ref))
        by, at, status = self._call(fn.call)
        if status == 0:
            return None
        return Settlement(ChainStatus(status), to_checksum_address(by), datetime.fromtimestamp(at, UTC))

    def has_role(self, role_name: str, address: str) -> bool:
        """e.g. has_role("ISSUER_ROLE", addr); DEFAULT_ADMIN_ROLE is the zero word."""
        role = b"\x00" * 32 if role_name == "DEFAULT_ADMIN_ROLE" else keccak(text=role_name)
        return bool(self._call(self.contract.functions.hasRole(role, to_checksum_address(address)).call))

    # ---------------------------------------------------------------- simulation

    def simulate(self, account_address: str, function_name: str, *args: Any) -> Any:
        """eth_call a write as `account_address` would send it: its return value, or RegistryRevert."""
        fn = self.contract.functions[function_name](*args)
        return self._call(lambda: fn.call({"from": to_checksum_address(account_address)}))

    # ---------------------------------------------------------------- writes (outbox worker)

    def pending_nonce(self, address: str) -> int:
        """The next nonce the node would accept, counting its pending pool."""
        return self._call(lambda: self.w3.eth.get_transaction_count(to_checksum_address(address), "pending"))

    def fee_fields(self) -> dict[str, int]:
        """Fee fields for a new transaction.

        A chain whose base fee is 0 (a permissioned chain, or anvil --base-fee 0 --gas-price 0) gets a
        legacy gasPrice of 0: free-gas networks accept it everywhere, and accounts need no funding. That
        answer is cached, since a zero base fee stays zero. Otherwise EIP-1559 fields from the node
        (max fee = 2 × base fee + tip, which survives six full blocks of rises), or a legacy gasPrice on
        chains without a base fee.
        """
        if self._free_gas:
            return {"gasPrice": 0}
        block = self._call(lambda: self.w3.eth.get_block("latest"))
        base_fee = block.get("baseFeePerGas")
        if base_fee is None:
            price: int = self._call(lambda: self.w3.eth.gas_price)
            self._free_gas = price == 0
            return {"gasPrice": price}
        if base_fee == 0:
            self._free_gas = True
            return {"gasPrice": 0}
        self._free_gas = False
        try:
            tip: int = self._call(lambda: self.w3.eth.max_priority_fee)
        except NodeError:  # node without eth_maxPriorityFeePerGas
            tip = 1_000_000_000
        return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip, "type": 2}

    def gas_is_paid(self) -> bool:
        """Whether senders need ether for gas (False on free-gas chains); asks the node once."""
        if self._free_gas is None:
            self.fee_fields()
        return not self._free_gas

    def build_and_sign(
        self,
        account: LocalAccount,
        function_name: str,
        args: list[Any],
        nonce: int,
        gas: int | None = None,
    ) -> SignedTx:
        """Sign a registry call with the nonce the caller chose.

        With gas None the call is estimated (which also surfaces a would-be revert as RegistryRevert
        before anything is signed) and given a 25 % + 10k margin.
        """
        data = self.contract.encode_abi(function_name, args=args)
        tx: dict[str, Any] = {
            "from": account.address,
            "to": self.registry_address,
            "data": data,
            "value": 0,
            "nonce": nonce,
            "chainId": self.chain_id,
        }
        if gas is None:
            probe: Any = {"from": account.address, "to": self.registry_address, "data": data}
            estimate = self._call(lambda: self.w3.eth.estimate_gas(probe))
            gas = int(estimate * GAS_MARGIN) + GAS_MARGIN_FLAT
        tx["gas"] = gas
        tx.update(self.fee_fields())
        signed = account.sign_transaction(tx)
        return SignedTx(bytes(signed.hash), bytes(signed.raw_transaction), account.address, nonce)

    def send_raw(self, signed: SignedTx | bytes) -> bytes:
        """Broadcast a signed transaction (or its raw bytes); safe to repeat. Returns the tx hash.

        "already known" / "already imported" (it is in the pool) returns the hash. "nonce too low" returns
        the hash if this very transaction is known to the node (it was mined), and otherwise raises
        NonceConflict: another transaction used the nonce, so this one can never be mined. A same-nonce,
        different transaction still pending ("replacement underpriced") is a NonceConflict too.
        """
        raw = signed.raw if isinstance(signed, SignedTx) else bytes(signed)
        tx_hash = keccak(raw)  # the hash of any signed transaction, legacy or typed, is keccak(raw)
        try:
            return bytes(self._call(lambda: self.w3.eth.send_raw_transaction(raw)))
        except NodeError as exc:
            message = str(exc).lower()
            if "already known" in message or "already imported" in message or "known transaction" in message:
                return tx_hash
            if "nonce too low" in message or "nonce is too low" in message:
                if self._transaction_known(tx_hash):
                    return tx_hash
                raise NonceConflict(f"nonce too low and {HexBytes(tx_hash).to_0x_hex()} unknown: {exc}") from exc
            if "replacement" in message and "underpriced" in message:
                raise NonceConflict(f"nonce taken by another pending transaction: {exc}") from exc
            raise TransactionRejected(str(exc)) from exc.__cause__

    def _transaction_known(self, tx_hash: bytes) -> bool:
        try:
            self._call(lambda: self.w3.eth.get_transaction(tx_hash))  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        return True

    def receipt(self, tx_hash: bytes | str) -> Receipt | None:
        """The mined receipt with decoded registry events, None while pending or unknown."""
        try:
            raw = self._call(lambda: self.w3.eth.get_transaction_receipt(HexBytes(tx_hash)))
        except TransactionNotFound:
            return None
        if raw is None:
            return None
        block = self._call(lambda: self.w3.eth.get_block(raw["blockNumber"]))
        block_time = datetime.fromtimestamp(block["timestamp"], UTC)
        events = [self._decode_log(log, block_time) for log in raw["logs"]]
        contract_address = raw.get("contractAddress")
        return Receipt(
            tx_hash=bytes(raw["transactionHash"]),
            status=raw["status"] == 1,
            block_number=raw["blockNumber"],
            block_time=block_time,
            gas_used=raw["gasUsed"],
            events=[e for e in events if e is not None],
            contract_address=to_checksum_address(contract_address) if contract_address else None,
        )

    def wait_for_receipt(self, tx_hash: bytes | str, timeout: float = 30.0, poll: float = 0.05) -> Receipt:
        """Poll for the receipt; TransactionTimeout when none comes (the tx may still be mined later)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.receipt(tx_hash)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise TransactionTimeout(f"no receipt for {HexBytes(tx_hash).to_0x_hex()} after {timeout} s")
            time.sleep(poll)

    def transact(self, account: LocalAccount, function_name: str, *args: Any, timeout: float = 30.0) -> Receipt:
        """Sign with the pending nonce, send, wait; RegistryRevert before sending, TransactionFailed after.

        For scripts, tests and the CLI. The app's worker uses build_and_sign/send_raw and owns its nonces.
        """
        signed = self.build_and_sign(account, function_name, list(args), self.pending_nonce(account.address))
        self.send_raw(signed)
        mined = self.wait_for_receipt(signed.hash, timeout)
        if not mined.status:
            raise TransactionFailed(mined, self._replay(account.address, function_name, args, mined.block_number))
        return mined

    def revert_reason(self, tx_hash: bytes | str) -> RegistryRevert | None:
        """Why a mined transaction reverted: replayed as an eth_call on the state before its block.

        Exact when it was the block's only transaction touching that state (anvil automine, a quiet
        chain); None if the replay does not revert or the transaction is unknown.
        """
        try:
            tx = self._call(lambda: self.w3.eth.get_transaction(HexBytes(tx_hash)))
        except TransactionNotFound:
            return None
        if tx.get("blockNumber") is None:
            return None
        call: Any = {k: tx[k] for k in ("from", "to", "value", "gas")} | {"data": tx["input"]}
        before = tx["blockNumber"] - 1
        try:
            self._call(lambda: self.w3.eth.call(call, block_identifier=before))
        except RegistryRevert as revert:
            return revert
        return None

    def _replay(self, sender: str, function_name: str, args: Sequence[Any], block: int) -> RegistryRevert | None:
        """Why a mined call reverted: re-run it on the state before its block (exact on one-tx blocks)."""
        fn = self.contract.functions[function_name](*args)
        try:
            self._call(lambda: fn.call({"from": sender}, block_identifier=block - 1))
        except RegistryRevert as revert:
            return revert
        return None

    def sign_transfer(self, account: LocalAccount, to_address: str, wei: int, nonce: int) -> SignedTx:
        """Sign an ether transfer with the caller's nonce (the outbox funds new keys with it)."""
        tx: dict[str, Any] = {
            "to": to_checksum_address(to_address),
            "value": wei,
            "gas": 21_000,
            "nonce": nonce,
            "chainId": self.chain_id,
            **self.fee_fields(),
        }
        signed = account.sign_transaction(tx)
        return SignedTx(hash=bytes(signed.hash), raw=bytes(signed.raw_transaction), sender=account.address, nonce=nonce)

    def fund(self, from_account: LocalAccount, to_address: str, wei: int, timeout: float = 30.0) -> Receipt:
        """Send ether and wait for it, for chains where gas is not free (scripts and tests)."""
        signed = self.sign_transfer(from_account, to_address, wei, self.pending_nonce(from_account.address))
        self.send_raw(signed)
        mined = self.wait_for_receipt(signed.hash, timeout)
        if not mined.status:
            raise TransactionFailed(mined)
        return mined

    # ---------------------------------------------------------------- events

    def events(
        self, from_block: int, to_block: int | None = None, *, with_time: bool = False, chunk: int = LOG_CHUNK
    ) -> list[RegistryEvent]:
        """All registry events in [from_block, to_block] (latest if None), oldest first, for the indexer."""
        last = self.block_number() if to_block is None else to_block
        times: dict[int, datetime] = {}
        found: list[RegistryEvent] = []
        start = from_block
        while start <= last:
            end = min(start + chunk - 1, last)
            with self._rpc():
                logs = self.w3.eth.get_logs({"address": self.registry_address, "fromBlock": start, "toBlock": end})
            for log in logs:
                when = None
                if with_time:
                    number = log["blockNumber"]
                    if number not in times:
                        with self._rpc():
                            stamp = self.w3.eth.get_block(number)["timestamp"]
                        times[number] = datetime.fromtimestamp(stamp, UTC)
                    when = times[number]
                event = self._decode_log(log, when)
                if event is not None:
                    found.append(event)
            start = end + 1
        return found

    def _decode_log(self, log: Any, block_time: datetime | None) -> RegistryEvent | None:
        if to_checksum_address(log["address"]) != self.registry_address or not log["topics"]:
            return None
        name = self._events_by_topic.get(bytes(log["topics"][0]))
        if name is None:
            return None
        decoded = self.contract.events[name]().process_log(log)
        return RegistryEvent(
            name=name,
            args=dict(decoded["args"]),
            block_number=log["blockNumber"],
            tx_hash=bytes(log["transactionHash"]),
            log_index=log["logIndex"],
            block_time=block_time,
        )


# ---------------------------------------------------------------- deployment


def deploy(
    rpc_url: str,
    admin_account: LocalAccount,
    artifact_path: str | Path | None = None,
    finance_admin: str | None = None,
    *,
    timeout: float = 30.0,
) -> Deployment:
    """Deploy a BillRegistry whose DEFAULT_ADMIN_ROLE goes to `finance_admin` (the deployer by default)."""
    abi, bytecode = load_artifact(artifact_path)
    if not bytecode or bytecode == "0x":
        raise FileNotFoundError("artefact has no deployment bytecode: run `make compile`")
    admin = to_checksum_address(finance_admin or admin_account.address)
    # A client without a registry yet: the zero address is never called, only its transport and fees.
    client = RegistryClient(rpc_url, ZERO_ADDRESS, timeout=timeout, artifact_path=artifact_path)
    factory = client.w3.eth.contract(abi=abi, bytecode=bytecode)
    data = factory.constructor(admin).data_in_transaction
    tx: dict[str, Any] = {
        "from": admin_account.address,
        "data": data,
        "value": 0,
        "nonce": client.pending_nonce(admin_account.address),
        "chainId": client.chain_id,
    }
    probe: Any = {"from": admin_account.address, "data": data}
    with client._rpc():
        estimate = client.w3.eth.estimate_gas(probe)
    tx["gas"] = int(estimate * 1.1)
    tx.update(client.fee_fields())
    signed = admin_account.sign_transaction(tx)
    client._call(lambda: client.w3.eth.send_raw_transaction(signed.raw_transaction))
    mined = client.wait_for_receipt(bytes(signed.hash), timeout)
    if not mined.status or mined.contract_address is None:
        raise TransactionFailed(mined)
    return Deployment(
        address=mined.contract_address,
        block=mined.block_number,
        tx_hash=HexBytes(mined.tx_hash).to_0x_hex(),
        chain_id=client.chain_id,
        admin=admin,
        deployed_at=mined.block_time,
    )


def save_deployment(deployments_dir: str | Path, deployment: Deployment) -> Path:
    """Write deployments/<chain_id>.json in the format scripts/deploy.py writes."""
    directory = Path(deployments_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{deployment.chain_id}.json"
    deployed_at = deployment.deployed_at or datetime.now(UTC)
    record = {
        "chain_id": deployment.chain_id,
        "address": deployment.address,
        "block": deployment.block,
        "tx": deployment.tx_hash,
        "deployed_at": deployed_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "admin": deployment.admin,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a file
    return path


def load_deployment(deployments_dir: str | Path, chain_id: int) -> Deployment | None:
    """The deployment recorded for `chain_id`, None if there is none."""
    path = Path(deployments_dir) / f"{chain_id}.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    deployed_at = record.get("deployed_at")
    return Deployment(
        address=to_checksum_address(record["address"]),
        block=int(record["block"]),
        tx_hash=record["tx"],
        chain_id=int(record["chain_id"]),
        admin=record.get("admin"),
        deployed_at=datetime.fromisoformat(deployed_at.replace("Z", "+00:00")) if deployed_at else None,
    )
