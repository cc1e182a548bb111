"""The ceilings beside verification, in the same run: a bare Flask JSON endpoint under the app's gunicorn
settings, and Anvil's own rate for an eth_call of the registry's verify()."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode

from app.bills.hexstr import to_hex
from app.chain.abi import selector
from app.serving import gunicorn_command
from bench.server import _stop, _wait_http
from dev.devchain import REPO_ROOT, free_port

POST_BODY_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = %s
"""


def bare_flask(seconds: float, load: Any) -> dict[str, Any]:
    """wrk on bench.bare:app, served exactly as the app is (gunicorn_command)."""
    port = free_port()
    env = {"PATH": str(Path(sys.executable).parent)}
    with subprocess.Popen(
        gunicorn_command(f"127.0.0.1:{port}", app="bench.bare:app"), cwd=REPO_ROOT, env=env
    ) as server:
        try:
            _wait_http(f"http://127.0.0.1:{port}/", server)
            result: dict[str, Any] = load(f"http://127.0.0.1:{port}/", "", seconds)
        finally:
            _stop(server)
    return result


def verify_call_body(bill_file: dict[str, Any], registry: str) -> str:
    """The JSON-RPC eth_call of IBillRegistry.verify for one anchored bill file."""
    a = bill_file["anchoring"]
    data = selector("verify(bytes32,bytes32[],bytes32,bytes32)") + abi_encode(
        ["bytes32", "bytes32[]", "bytes32", "bytes32"],
        [
            bytes.fromhex(a["root"][2:]),
            [bytes.fromhex(p[2:]) for p in a["proof"]],
            bytes.fromhex(bill_file["bill_ref"][2:]),
            bytes.fromhex(bill_file["content_hash"][2:]),
        ],
    )
    call = {"to": registry, "data": to_hex(data)}
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, "latest"]})


def anvil_eth_call(rpc_url: str, body: str, seconds: float, load: Any) -> dict[str, Any]:
    """wrk POSTing one eth_call of verify() straight to Anvil: what the node alone can answer."""
    result: dict[str, Any] = load(rpc_url, POST_BODY_SCRIPT % json.dumps(body), seconds)
    return result
