"""Node lifecycle: dev keys, outages answered fast, restarts that keep state, chains where gas costs."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from chainkit import bill, leaf
from eth_account import Account

from app.bills.chainview import ChainStatus
from app.bills.errors import ChainUnavailableError
from app.chain import RegistryClient, TransactionRejected, decode_revert, load_artifact
from dev.devchain import ANVIL_DEV_KEYS, deploy_dev_registry, dev_account, rpc, start_anvil, temp_state_file


def test_dev_keys_are_the_public_test_mnemonic_and_the_nodes_accounts() -> None:
    Account.enable_unaudited_hdwallet_features()
    mnemonic = "test test test test test test test test test test test junk"
    derived = [Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}") for i in range(10)]
    assert [a.key.to_0x_hex() for a in derived] == list(ANVIL_DEV_KEYS)
    with start_anvil() as node:
        assert rpc(node.rpc_url, "eth_accounts") == [a.address.lower() for a in derived]


def test_start_anvil_gives_a_free_gas_chain() -> None:
    with start_anvil() as node:
        assert int(rpc(node.rpc_url, "eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16) == 0
        client = RegistryClient(node.rpc_url, "0x" + "00" * 20)
        assert client.fee_fields() == {"gasPrice": 0}
        assert client.gas_is_paid() is False
        assert client.chain_id == 31337


def test_killed_node_raises_chain_unavailable_at_once() -> None:
    node = start_anvil()
    registry = deploy_dev_registry(node.rpc_url, timeout=1.0)
    ref, content = bill(1)
    node.kill()
    with pytest.raises(ChainUnavailableError):  # how soon: `make bench` (faults: chain timeouts)
        registry.client.bill_record(leaf(ref, content), [], ref, content)
    assert registry.client.is_reachable() is False
    node.close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a hung node, or a black-holed proxy."""
    server = socket.socket()
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
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_hung_node_raises_chain_unavailable_within_the_timeout(silent_server: str) -> None:
    client = RegistryClient(silent_server, "0x" + "00" * 20, timeout=0.5, chain_id=31337)
    ref, content = bill(1)
    with pytest.raises(ChainUnavailableError):  # how soon: `make bench` (faults: chain timeouts)
        client.bill_record(leaf(ref, content), [], ref, content)


def test_restart_after_sigterm_keeps_registry_and_records() -> None:
    state = temp_state_file()
    with start_anvil(state_file=state) as node:
        registry = deploy_dev_registry(node.rpc_url)
        ref, content = bill(1)
        root = leaf(ref, content)
        registry.client.transact(registry.issuer, "anchor", root)
        node.restart()
        assert registry.client.has_code()
        record = registry.client.bill_record(root, [], ref, content)
        assert (record.status, record.issuer) == (ChainStatus.ISSUED, registry.issuer.address)
        assert registry.client.organisation(registry.claimant.address) is not None
    state.unlink(missing_ok=True)


def test_restart_after_sigkill_keeps_what_the_state_interval_saved() -> None:
    state = temp_state_file()
    with start_anvil(state_file=state) as node:
        registry = deploy_dev_registry(node.rpc_url)
        ref, content = bill(1)
        root = leaf(ref, content)
        registry.client.transact(registry.issuer, "anchor", root)
        time.sleep(1.3)  # --state-interval 1: the next dump includes the anchor
        node.kill()
        assert not registry.client.is_reachable()
        node.start()
        assert registry.client.has_code()
        assert registry.client.bill_record(root, [], ref, content).status is ChainStatus.ISSUED
    state.unlink(missing_ok=True)


def test_fees_on_a_chain_with_a_base_fee() -> None:
    with start_anvil(free_gas=False) as node:
        registry = deploy_dev_registry(node.rpc_url)
        client = registry.client
        fees = client.fee_fields()
        assert fees["type"] == 2 and fees["maxFeePerGas"] > fees["maxPriorityFeePerGas"] > 0
        assert client.gas_is_paid() is True
        fresh = Account.create()
        client.transact(registry.admin, "registerOrganisation", fresh.address, "新单位", "1" * 18, 1)
        unfunded = client.build_and_sign(fresh, "anchor", [b"\x41" * 32], 0)
        with pytest.raises(TransactionRejected, match=r"(?i)insufficient funds"):
            client.send_raw(unfunded)
        client.fund(dev_account(0), fresh.address, 10**17)
        receipt = client.transact(fresh, "anchor", b"\x42" * 32)
        assert receipt.status
        spent = 10**17 - client.w3.eth.get_balance(fresh.address)
        assert spent > 0  # it paid for its gas


def test_unknown_error_selector_keeps_the_raw_data() -> None:
    abi, _ = load_artifact()
    revert = decode_revert(abi, "0xdeadbeef" + "00" * 32)
    assert revert.name == "UnknownError" and revert.data is not None


def test_plain_revert_string_decodes_as_error() -> None:
    abi, _ = load_artifact()
    data = "0x08c379a0" + (
        "0000000000000000000000000000000000000000000000000000000000000020"
        "0000000000000000000000000000000000000000000000000000000000000002"
        "6869000000000000000000000000000000000000000000000000000000000000"
    )
    assert (decode_revert(abi, data).name, decode_revert(abi, data).error_args) == (
        "Error",
        {"message": "hi"},
    )


def test_artifact_is_found_in_apes_manifest_beside_the_named_file(tmp_path) -> None:
    abi, bytecode = load_artifact()
    manifest = {"contractTypes": {"BillRegistry": {"abi": abi, "deploymentBytecode": {"bytecode": bytecode}}}}
    (tmp_path / "__local__.json").write_text(json.dumps(manifest))
    assert load_artifact(tmp_path / "BillRegistry.json") == (abi, bytecode)
