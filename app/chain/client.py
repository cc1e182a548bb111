"""The BillRegistry client: reads for verifiers, signed transactions for the outbox worker.

Everything the app knows about the chain goes through `RegistryClient`. Registry state is read one way:
`_view`, an eth_call of the ABI signature decoded with eth-abi (over the raw keep-alive transport when no
proxy is set). web3.py serves the rest: blocks, receipts, logs, estimates, sending.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import requests
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from app.bills.chainview import ChainBillRecord, ChainOrganisation, ChainOrgKind, ChainStatus
from app.bills.hexstr import to_hex
from app.chain.abi import decode_revert, event_topics, load_artifact, selector
from app.chain.errors import (
    ChainUnavailableError,
    NodeError,
    NonceConflict,
    RegistryRevert,
    TransactionFailed,
    TransactionRejected,
    TransactionTimeout,
)
from app.chain.transport import RawJsonRpc, make_web3, redacted_url, uses_proxy

ZERO_ADDRESS = to_hex(bytes(20))
GAS_MARGIN = 1.25  # estimates are exact for the state they saw; a claim racing another can cost more
GAS_MARGIN_FLAT = 10_000
LOG_CHUNK = 2_000  # blocks per eth_getLogs: well under the 10k-block caps common on public RPCs
T = TypeVar("T")


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
        return to_hex(self.hash)

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


# ---------------------------------------------------------------- helpers


def _utc(seconds: int) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


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


# ---------------------------------------------------------------- client


class RegistryClient:
    """The registry at `registry_address`, read and written through the node at `rpc_url`.

    Implements app.bills.chainview.ChainReader. Nothing touches the network until the first call, so the
    app starts even when the chain is down. Thread-safe as far as requests.Session is (the Flask app
    shares one client between request threads).
    """

    contract_name = "BillRegistry"  # the artefact whose ABI this client speaks (registry v1)
    version = 1

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
        self.abi, _ = load_artifact(artifact_path, self.contract_name)
        self.w3 = make_web3(rpc_url, timeout)
        self.contract = self.w3.eth.contract(address=self.registry_address, abi=self.abi)
        self._chain_id = chain_id
        self._free_gas: bool | None = None
        # The raw path bypasses requests, so it cannot honour proxies: with a proxy, reads use web3.
        self._raw = None if uses_proxy(rpc_url) else RawJsonRpc(rpc_url, timeout)
        self._events_by_topic = event_topics(self.abi)

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
            # from None: requests' message (in a logged traceback) would repeat the URL's path and query
            node = redacted_url(self.rpc_url)
            raise ChainUnavailableError(f"chain node {node} unreachable: {type(exc).__name__}") from None

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
            node = redacted_url(rpc_url)
            raise ChainUnavailableError(f"chain node {node} unreachable: {type(exc).__name__}") from None

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
        """The head's number: over the raw keep-alive transport when there is one (verification asks often)."""
        if self._raw is not None:
            return int(self._raw.call("eth_blockNumber", []), 16)
        return self._call(lambda: self.w3.eth.block_number)

    def block_times(self, numbers: Sequence[int]) -> dict[int, datetime]:
        """The timestamps of several blocks, fetched in JSON-RPC batches (one round trip per 100 blocks)."""
        wanted = sorted(set(numbers))
        if self._raw is None:
            with self._rpc():
                return {n: datetime.fromtimestamp(self.w3.eth.get_block(n)["timestamp"], UTC) for n in wanted}
        found: dict[int, datetime] = {}
        for i in range(0, len(wanted), 100):
            chunk = wanted[i : i + 100]
            blocks = self._raw.batch([("eth_getBlockByNumber", [hex(n), False]) for n in chunk])
            for number, block in zip(chunk, blocks, strict=True):
                if block is None:
                    raise NodeError(f"block {number} is unknown to the node")
                found[number] = datetime.fromtimestamp(int(block["timestamp"], 16), UTC)
        return found

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

    def _eth_call(self, signature: str, arg_types: list[str], args: list[Any], block: int | None = None) -> bytes:
        data = to_hex(selector(signature) + abi_encode(arg_types, args))
        params: list[Any] = [{"to": self.registry_address, "data": data}, "latest" if block is None else hex(block)]
        if self._raw is not None:
            result = self._raw.call("eth_call", params)
        else:
            with self._rpc():
                response = self.w3.provider.make_request("eth_call", params)  # type: ignore[arg-type]
            if "error" in response:
                raise NodeError(str(response["error"]))
            result = response["result"]
        return bytes.fromhex(str(result)[2:])

    def bill_record(
        self, root: bytes, proof: Sequence[bytes], bill_ref: bytes, content_hash: bytes, *, block: int | None = None
    ) -> ChainBillRecord:
        """The registry's `verify`: Unknown (all None) unless the root is anchored and the proof holds.

        With `block`, the state of that block, and the record says so (`as_of_block`); else "latest".
        """
        raw = self._eth_call(
            "verify(bytes32,bytes32[],bytes32,bytes32)",
            ["bytes32", "bytes32[]", "bytes32", "bytes32"],
            [_b32(root), [_b32(p) for p in proof], _b32(bill_ref), _b32(content_hash)],
            block,
        )
        # (uint8, address, uint64, uint64, address, uint64): six static words, read directly.
        words = [raw[i : i + 32] for i in range(0, 192, 32)]
        status, anchored_at, revoked_at, settled_at = (int.from_bytes(words[i], "big") for i in (0, 2, 3, 5))
        issuer, settled_by = to_hex(words[1][12:]), to_hex(words[4][12:])
        return ChainBillRecord(
            status=ChainStatus(status),
            issuer=_checksum(issuer),  # the zero address when UNKNOWN, as chainview documents
            anchored_at=_utc(anchored_at),
            issuer_revoked_at=_utc(revoked_at),
            settled_by=_addr(settled_by),
            settled_at=_utc(settled_at),
            as_of_block=block,
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
            kind=ChainOrgKind(kind).label,
            registered_at=datetime.fromtimestamp(registered_at, UTC),
            revoked_at=_utc(revoked_at),
        )

    def anchor_of(self, root: bytes) -> tuple[str, datetime] | None:
        """(issuer, anchored_at) of a root, None if it was never anchored."""
        issuer, anchored_at = self._view("anchorOf(bytes32)", ["bytes32"], [_b32(root)], "(address,uint64)")
        if _addr(issuer) is None:
            return None
        return to_checksum_address(issuer), datetime.fromtimestamp(anchored_at, UTC)

    def settlement_of(self, issuer: str, bill_ref: bytes) -> Settlement | None:
        """The claim or void of (issuer, bill_ref), None while the bill is only issued (or unknown)."""
        by, at, status = self._view(
            "settlementOf(address,bytes32)",
            ["address", "bytes32"],
            [to_checksum_address(issuer), _b32(bill_ref)],
            "(address,uint64,uint8)",
        )
        if status == 0:
            return None
        return Settlement(ChainStatus(status), to_checksum_address(by), datetime.fromtimestamp(at, UTC))

    def has_role(self, role_name: str, address: str) -> bool:
        """e.g. has_role("ISSUER_ROLE", addr); DEFAULT_ADMIN_ROLE is the zero word."""
        role = b"\x00" * 32 if role_name == "DEFAULT_ADMIN_ROLE" else keccak(text=role_name)
        return bool(
            self._view("hasRole(bytes32,address)", ["bytes32", "address"], [role, to_checksum_address(address)], "bool")
        )

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
        return self.sign_data(account, data, nonce, gas, to=self.registry_address)

    def sign_data(
        self, account: LocalAccount, data: str, nonce: int, gas: int | None = None, *, to: str | None
    ) -> SignedTx:
        """Sign a transaction carrying `data` (to None creates a contract), estimating gas when not given."""
        tx: dict[str, Any] = {
            "from": account.address,
            "data": data,
            "value": 0,
            "nonce": nonce,
            "chainId": self.chain_id,
        }
        if to is not None:
            tx["to"] = to
        if gas is None:
            probe: Any = {k: v for k, v in tx.items() if k in ("from", "to", "data")}
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
        found: list[RegistryEvent] = []
        start = from_block
        while start <= last:
            end = min(start + chunk - 1, last)
            with self._rpc():
                logs = self.w3.eth.get_logs({"address": self.registry_address, "fromBlock": start, "toBlock": end})
            # Block times in batches: one round trip for a chunk's blocks, not one per block.
            times = self.block_times([log["blockNumber"] for log in logs]) if with_time else {}
            for log in logs:
                when = times.get(log["blockNumber"]) if with_time else None
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
