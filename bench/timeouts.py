"""How fast the chain client gives up: the timing checks that used to be asserts in tests/chain.

The tests check what happens (the right error); these figures check how soon, with targets in the table.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from eth_utils import keccak

from app.bills.errors import ChainUnavailableError
from app.bills.merkle import leaf_hash
from app.chain import RegistryClient, TransactionTimeout
from dev import devchain


def _seconds(call: Any, expected: type[BaseException]) -> float:
    started = time.perf_counter()
    try:
        call()
    except expected:
        return time.perf_counter() - started
    raise AssertionError(f"{expected.__name__} was not raised")


def run(tiny: bool) -> dict[str, Any]:
    ref, content = keccak(text="ref-1"), keccak(text="content-1")
    out: dict[str, Any] = {}

    with devchain.start_anvil() as node:  # a receipt that never comes: automine off
        registry = devchain.deploy_dev_registry(node.rpc_url)
        devchain.rpc(node.rpc_url, "evm_setAutomine", [False])
        client, issuer = registry.client, registry.issuer
        signed = client.build_and_sign(issuer, "anchor", [b"\x0e" * 32], client.pending_nonce(issuer.address))
        client.send_raw(signed)
        waiting = lambda: client.wait_for_receipt(signed.hash, timeout=0.3)  # noqa: E731
        out["receipt_timeout_0_3_s"] = _seconds(waiting, TransactionTimeout)

    node = devchain.start_anvil()  # a killed node: connection refused, no retries
    registry = devchain.deploy_dev_registry(node.rpc_url, timeout=1.0)
    node.kill()
    leaf = leaf_hash(ref, content)
    out["killed_node_s"] = _seconds(lambda: registry.client.bill_record(leaf, [], ref, content), ChainUnavailableError)
    node.close()

    server = socket.socket()  # a hung node: accepts, never answers
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    hung = RegistryClient(f"http://127.0.0.1:{server.getsockname()[1]}", "0x" + "00" * 20, timeout=0.5, chain_id=31337)
    out["hung_node_timeout_0_5_s"] = _seconds(lambda: hung.bill_record(leaf, [], ref, content), ChainUnavailableError)
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()
    return out
