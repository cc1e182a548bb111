"""What the chain can answer that a caller must handle.

`ChainUnavailableError` (from the domain, so verification can speak of it) means the node cannot be
reached or answers too slowly; everything here is an answer the chain gave.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.bills.errors import ChainUnavailableError
from app.bills.hexstr import to_hex

if TYPE_CHECKING:
    from app.chain.client import Receipt

__all__ = [
    "ChainError",
    "ChainNotConfiguredError",
    "ChainUnavailableError",
    "NodeError",
    "NonceConflict",
    "RegistryRevert",
    "TransactionFailed",
    "TransactionRejected",
    "TransactionTimeout",
]


class ChainNotConfiguredError(ChainUnavailableError):
    """No registry address is known for the chain: deploy it or set BILLCHAIN_REGISTRY."""


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
    return to_hex(value) if isinstance(value, bytes) else repr(value)
