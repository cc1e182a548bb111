"""A local Anvil for `make run`, tests and benchmarks: start, stop, kill, restart with the same state.

The same plain functions back the pytest fixtures in tests/chain, tests/app and the benchmarks, so every
suite runs against a real node in the same way.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount

from app.chain import Deployment, RegistryClient, deploy

REPO_ROOT = Path(__file__).resolve().parent.parent

# The first ten accounts anvil (and hardhat, ganache with the same mnemonic) derive from the PUBLIC,
# well-known test mnemonic "test test test test test test test test test test test junk" at
# m/44'/60'/0'/0/i. Everyone on the internet knows them: use them ONLY on a local dev chain, never on a
# chain that holds anything of value. tests/chain checks them against the mnemonic and the node.
ANVIL_DEV_KEYS: tuple[str, ...] = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
ANVIL_CHAIN_ID = 31337
START_TIMEOUT = 10.0


def find_anvil() -> str:
    """The anvil binary: the venv's link (made by `make setup`), then node_modules, then PATH."""
    for candidate in (
        REPO_ROOT / ".venv/bin/anvil",
        REPO_ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil",
    ):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("anvil")
    if found is None:
        raise FileNotFoundError("anvil not found: run `make setup`")
    return found


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    """A port the OS just had free on 127.0.0.1 (anvil binds it right after; a clash is retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc(rpc_url: str, method: str, params: list[Any] | None = None, timeout: float = 2.0) -> Any:
    """One raw JSON-RPC call, for anvil's own methods (evm_snapshot, anvil_setBalance, ...)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    answer = requests.post(rpc_url, json=body, timeout=timeout).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


class AnvilNode:
    """One anvil process. Free gas (--base-fee 0 --gas-price 0) unless `free_gas=False`."""

    def __init__(
        self,
        port: int | None = None,
        state_file: Path | None = None,
        *,
        block_time: float | None = None,
        chain_id: int = ANVIL_CHAIN_ID,
        free_gas: bool = True,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.port = port
        self.state_file = Path(state_file) if state_file else None
        self.block_time = block_time
        self.chain_id = chain_id
        self.free_gas = free_gas
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        # anvil's output, shown only if it fails to start; closed in __exit__ / close().
        self._log = tempfile.TemporaryFile()  # noqa: SIM115

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        args = [
            find_anvil(),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
        ]
        # anvil 1.x has no --silent any more: --quiet is its replacement.
        args.append("--quiet")
        if self.free_gas:
            args += ["--base-fee", "0", "--gas-price", "0"]
        if self.state_file is not None:
            # --state dumps on SIGTERM/SIGINT; --state-interval 1 also writes every second, so a SIGKILL
            # loses at most the last second.
            args += ["--state", str(self.state_file), "--state-interval", "1"]
        if self.block_time is not None:
            args += ["--block-time", str(self.block_time)]
        return args + list(self.extra_args)

    def start(self) -> AnvilNode:
        """Start and wait until the RPC answers; picks a new free port if a chosen-free one clashes."""
        fixed_port = self.port is not None
        if fixed_port and _port_in_use(int(self.port)):  # type: ignore[arg-type]
            # Another node would answer our readiness probe and we would silently use it.
            raise RuntimeError(
                f"port {self.port} is already in use (another chain or `make run`?): stop it, "
                "or set BILLCHAIN_RPC_URL to use that chain"
            )
        for _attempt in range(3):
            if not fixed_port:
                self.port = free_port()
            self._log.seek(0)
            self._log.truncate()
            self.process = subprocess.Popen(  # noqa: S603 (our own binary, fixed arguments)
                self.command(), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
            )
            if self._wait_ready():
                return self
            self._terminate(signal.SIGKILL)
            if fixed_port:
                break
        self._log.seek(0)
        output = self._log.read().decode(errors="replace")[-2000:]
        raise RuntimeError(f"anvil did not start on port {self.port}: {output}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                rpc(self.rpc_url, "eth_chainId", timeout=0.5)
                return True
            except requests.RequestException:
                time.sleep(0.01)
        return False

    def _terminate(self, sig: signal.Signals, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM and wait: anvil writes its --state file on the way out."""
        self._terminate(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, as a crash would: only the last --state-interval dump survives."""
        self._terminate(signal.SIGKILL)

    def restart(self) -> AnvilNode:
        """Stop if running, then start on the same port with the same state file."""
        self.stop()
        return self.start()  # self.port is set now, so start() keeps it

    def __enter__(self) -> AnvilNode:
        return self if self.running else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the node for good and drop its log."""
        self.stop()
        self._log.close()


def start_anvil(
    port: int | None = None,
    state_file: Path | None = None,
    *,
    block_time: float | None = None,
    chain_id: int = ANVIL_CHAIN_ID,
    free_gas: bool = True,
) -> AnvilNode:
    """Start an anvil (a free port when `port` is None) and return it running; ~35 ms here."""
    return AnvilNode(port, state_file, block_time=block_time, chain_id=chain_id, free_gas=free_gas).start()


# ---------------------------------------------------------------- fixtures as plain functions


def dev_account(index: int) -> LocalAccount:
    """Anvil dev account `index` (0..9); local dev chains only."""
    account: LocalAccount = Account.from_key(ANVIL_DEV_KEYS[index])
    return account


@dataclass(frozen=True)
class DevRegistry:
    """A deployed registry with one organisation of each kind, accounts named by role."""

    node_url: str
    deployment: Deployment
    client: RegistryClient
    admin: LocalAccount
    issuer: LocalAccount
    claimant: LocalAccount
    stranger: LocalAccount
    other_issuer: LocalAccount


# Fixed, valid-looking 18-character unified social credit codes for the demo organisations.
DEV_ORGS = {
    "issuer": ("北京市第一中学", "12110000400000001A", 1),
    "claimant": ("示例保险股份有限公司", "91110000100000002B", 2),
    "other_issuer": ("北京市第二医院", "12110000400000003C", 1),
}


def deploy_dev_registry(rpc_url: str, *, timeout: float = 5.0) -> DevRegistry:
    """Deploy with dev account 0 as finance admin and register issuer (1), claimant (2), other issuer (4).

    Dev account 3 stays a stranger with no role.
    """
    admin, issuer, claimant, stranger, other = (dev_account(i) for i in (0, 1, 2, 3, 4))
    deployment = deploy(rpc_url, admin)
    client = RegistryClient(rpc_url, deployment.address, timeout=timeout, chain_id=deployment.chain_id)
    for account, (name, code, kind) in zip((issuer, claimant, other), DEV_ORGS.values(), strict=True):
        client.transact(admin, "registerOrganisation", account.address, name, code, kind)
    return DevRegistry(rpc_url, deployment, client, admin, issuer, claimant, stranger, other)


def snapshot(rpc_url: str) -> str:
    """anvil's evm_snapshot: an id to revert to (each id works once)."""
    return str(rpc(rpc_url, "evm_snapshot"))


def revert(rpc_url: str, snapshot_id: str) -> None:
    """Back to the snapshot: blocks, state and nonces as they were."""
    if not rpc(rpc_url, "evm_revert", [snapshot_id]):
        raise RuntimeError(f"evm_revert({snapshot_id}) refused")


def temp_state_file() -> Path:
    """A fresh path for --state (anvil creates the file)."""
    fd, name = tempfile.mkstemp(prefix="anvil-state-", suffix=".json")
    os.close(fd)
    os.unlink(name)
    return Path(name)
