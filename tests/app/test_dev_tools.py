"""The tools beside `make run`, as a new user runs them: `make run` in one terminal, then in another, with no
BILLCHAIN_* variable exported, the README's `flask --app app orgs add` and the `ape console` registry lookup.

Real processes: `python -m dev.run` (its own Anvil, on free ports) and the flask CLI with a clean environment
(PATH, HOME and the instance folder only). The console is a real `ape console` session (about 20 s); its
one extra variable is APE_FOUNDRY_HOST, because this test's Anvil is on a free port instead of 8545, the
port ape-config.yaml names for `make run`'s Anvil.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from dotenv import dotenv_values

from app.bills.identifiers import credit_code_check_char
from app.chain.registry_v2 import RegistryV2Client
from dev.devchain import ANVIL_DEV_KEYS, dev_account, free_port

REPO = Path(__file__).resolve().parents[2]
FLASK = REPO / ".venv" / "bin" / "flask"
APE = REPO / ".venv" / "bin" / "ape"


@dataclass
class MakeRun:
    instance: Path
    url: str
    rpc_url: str
    log: Path


def _clean_env(instance: Path, home: Path) -> dict[str, str]:
    """What a new terminal has: no BILLCHAIN_* at all, only where the instance folder is (as a clone has it)."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), "BILLCHAIN_INSTANCE_PATH": str(instance)}


@pytest.fixture
def make_run(database_url: str, tmp_path: Path) -> Iterator[MakeRun]:
    """`make run`'s entry point as a real process on free ports, with a fresh instance folder."""
    instance, port, anvil_port = tmp_path / "instance", free_port(), free_port()
    env = {
        **_clean_env(instance, tmp_path),
        "BILLCHAIN_PORT": str(port),
        "BILLCHAIN_DEV_ANVIL_PORT": str(anvil_port),
        "BILLCHAIN_DATABASE_URL": database_url,
        "BILLCHAIN_KEYSTORE_KDF_N": "1024",  # the demo organisations' keys, quickly (this process only)
        "PYTHONUNBUFFERED": "1",  # its console lines reach the log as they are printed
    }
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dev.run"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            if "Billchain serving on" in log.read_text():
                break
            time.sleep(0.2)
        else:
            pytest.fail("make run did not start: " + log.read_text()[-3000:])
        yield MakeRun(instance, url, f"http://127.0.0.1:{anvil_port}", log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_make_run_writes_the_instance_env_file_for_the_tools_beside_it(make_run: MakeRun) -> None:
    path = make_run.instance / "billchain.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = dotenv_values(path)
    assert values["BILLCHAIN_RPC_URL"] == make_run.rpc_url
    assert values["BILLCHAIN_DEPLOYMENTS_DIR"] == str((make_run.instance / "deployments").resolve())
    assert values["BILLCHAIN_ADMIN_KEY"] == ANVIL_DEV_KEYS[0]  # Anvil's public dev key, this local chain only
    assert values["BILLCHAIN_KEYSTORE_PASSWORD"] == (make_run.instance / "keystore-password").read_text().strip()


def test_flask_orgs_add_beside_make_run_registers_on_chain_with_no_variables_set(
    make_run: MakeRun, tmp_path: Path
) -> None:
    first17 = f"12110000{secrets.randbelow(10**9):09d}"  # not one of the demo organisations' codes
    code = first17 + credit_code_check_char(first17)
    done = subprocess.run(
        [str(FLASK), "--app", "app", "orgs", "add", "北京市第三中学", "--kind", "issuer", "--credit-code", code],
        cwd=REPO,
        env=_clean_env(make_run.instance, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "KEYSTORE_PASSWORD" not in done.stderr
    address = next(line.split()[-1] for line in done.stdout.splitlines() if line.startswith("address:"))
    assert "status:       active on chain" in done.stdout, done.stdout + done.stderr

    record = json.loads((make_run.instance / "deployments" / "31337.json").read_text())
    assert record["version"] == 2  # a new deployment is registry v2
    registry = RegistryV2Client(make_run.rpc_url, record["address"])
    registered = registry.organisation_v2(registry.org_id_of(code))
    assert registered is not None
    assert (registered.key, registered.name, registered.kind.label) == (address, "北京市第三中学", "issuer")
    # The server beside it sees the same organisation (same database, same chain).
    health = requests.get(f"{make_run.url}/api/v1/health", timeout=10)
    assert health.status_code == 200


def test_ape_console_finds_make_runs_registry_with_no_variables_set(make_run: MakeRun, tmp_path: Path) -> None:
    record = json.loads((make_run.instance / "deployments" / "31337.json").read_text())
    session = (
        'print("REGISTRY", registry.address if registry else None)\n'
        f'print("ADMIN", registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), "{dev_account(0).address}"))\n'
    )
    done = subprocess.run(
        [str(APE), "console", "--network", "ethereum:local:foundry"],
        cwd=REPO,
        env={**_clean_env(make_run.instance, tmp_path), "APE_FOUNDRY_HOST": make_run.rpc_url},
        input=session + "exit()\n",
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"REGISTRY {record['address']}" in done.stdout, done.stdout + done.stderr
    assert "ADMIN True" in done.stdout  # answered by make run's registry on its chain: its finance admin


def test_make_run_on_registry_v2_seeds_the_demo_with_a_claim(make_run: MakeRun) -> None:
    log = make_run.log.read_text()
    assert "BillRegistry v2 at" in log, log[-3000:]
    assert log.count("demo bill: ") == 2
    assert "demo claim: 示例人寿保险 Demo Insurance claims 100.00 yuan of" in log, log[-3000:]


def test_make_run_member_joins_the_same_chain_and_registry_with_nothing_of_the_first(
    make_run: MakeRun, tmp_path: Path
) -> None:
    """`make run-member` beside `make run`: the same Anvil and registry, its own database, keystore and folder,
    no admin key; it serves, and its worker follows the registry."""
    member_instance, port = make_run.instance / "member", free_port()
    env = {
        **_clean_env(member_instance, tmp_path),
        "BILLCHAIN_MEMBER_OF": str(make_run.instance),
        "BILLCHAIN_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "member.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dev.run", "--member"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while "member platform serving on" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        record = json.loads((make_run.instance / "deployments" / "31337.json").read_text())
        assert f"BillRegistry v2 at {record['address']}" in log.read_text()
        health = None
        while health is None:  # gunicorn binds its port just after the line above is printed
            try:
                health = requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=10)
            except requests.ConnectionError:
                assert time.monotonic() < deadline + 30, log.read_text()[-3000:]
                time.sleep(0.2)
        assert health.status_code == 200, health.text
        values = dotenv_values(member_instance / "billchain.env")
        assert values["BILLCHAIN_RPC_URL"] == make_run.rpc_url
        assert "BILLCHAIN_ADMIN_KEY" not in values  # no admin key on a member platform
        assert values["BILLCHAIN_BASE_URL"] == f"http://127.0.0.1:{port}"
        assert (
            values["BILLCHAIN_MEMBER_PLATFORMS"]
            == dotenv_values(make_run.instance / "billchain.env")["BILLCHAIN_BASE_URL"]
        )
        assert (member_instance / "billchain.sqlite").exists()  # its own database, keystore password

        # Admission across platforms, as the README and the member's console say: the request is made on the
        # member, the first platform's finance department admits it, the member sees the chain register it.
        first17 = f"91110000{secrets.randbelow(10**9):09d}"
        code = first17 + credit_code_check_char(first17)
        request = tmp_path / "request.json"

        def flask(instance: Path, *args: str) -> str:
            done = subprocess.run(
                [str(FLASK), "--app", "app", *args],
                cwd=REPO,
                env=_clean_env(instance, tmp_path),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        asked = flask(
            member_instance,
            *("orgs", "request-admission", "--name", "示例健康保险", "--credit-code", code),
            *("--kind", "claimant", "--out", str(request)),
        )
        assert "waiting for admission" in asked
        assert "approved" in flask(make_run.instance, "orgs", "admit", str(request))
        deadline = time.monotonic() + 60
        while not any(
            code in line and "active" in line for line in flask(member_instance, "orgs", "list").splitlines()
        ):
            assert time.monotonic() < deadline, flask(member_instance, "orgs", "list")
            time.sleep(0.5)
        assert (member_instance / "keystore-password").read_text() != (
            make_run.instance / "keystore-password"
        ).read_text()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
