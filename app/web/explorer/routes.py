"""`/chain/tx/<hash>`: a transaction as the chain reports it, for deployments without an explorer."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify, render_template

from app.bills.hexstr import to_hex
from app.runtime import runtime
from app.services.errors import (
    Malformed,
    NotFound,
)
from app.web.errors import wants_json

bp = Blueprint("chain", __name__)
_TX = re.compile(r"0x[0-9a-fA-F]{64}")


@bp.route("/chain/tx/<tx_hash>")
def transaction(tx_hash: str) -> Any:
    if not _TX.fullmatch(tx_hash):
        raise Malformed("invalid_tx_hash", "A transaction hash is 0x and 64 hex digits.", "tx_hash")
    receipt = runtime().client.receipt(tx_hash)
    if receipt is None:
        raise NotFound("tx_not_found", "The chain does not know this transaction (yet).")
    view = {
        "tx_hash": tx_hash,
        "status": "success" if receipt.status else "reverted",
        "block_number": receipt.block_number,
        "block_time": receipt.block_time.isoformat().replace("+00:00", "Z"),
        "gas_used": receipt.gas_used,
        "events": [{"name": e.name, "args": {k: _show(v) for k, v in e.args.items()}} for e in receipt.events],
    }
    if wants_json():
        return jsonify(view)
    return render_template("chain/tx.html", tx=view)


def _show(value: Any) -> Any:
    return to_hex(value) if isinstance(value, bytes) else value
