"""End-to-end issuance (API → anchored) and verification load against the served app."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from bench import ceilings, oa_peer, profile
from bench.domain import sample_payload
from bench.server import PG_SCHEMA, Served, serve
from bench.stats import percentile
from dev.devchain import REPO_ROOT


class BatchWatcher(threading.Thread):
    """Polls the database every 100 ms and notes when each anchoring batch was first seen confirmed."""

    def __init__(self, engine: sa.Engine, period: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.engine = engine
        self.period = period
        self.seen: dict[int, float] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        query = sa.text("SELECT id FROM anchor_batches WHERE status = 'confirmed'")
        while not self.halt.is_set():
            with self.engine.connect() as conn:
                ids = conn.execute(query).scalars().all()
            now = time.time()
            for batch_id in ids:
                self.seen.setdefault(batch_id, now)
            self.halt.wait(self.period)


def _client(
    served: Served,
    body: bytes,
    per_request: int,
    deadline: float,
    budget: list[int],
    lock: threading.Lock,
    out: list[Any],
) -> None:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {served.token}", "Content-Type": "application/json"}
    while time.time() < deadline:
        with lock:
            if budget[0] < per_request:
                return
            budget[0] -= per_request
        sent = time.time()
        answer = session.post(f"{served.base_url}/api/v1/bills", data=body, headers=headers, timeout=60)
        done = time.time()
        if answer.status_code != 201:
            out.append(("error", answer.status_code, answer.text[:200]))
            continue
        bills = answer.json()
        out.append((sent, done, [(b["id"], b["verify_url"]) for b in bills]))


def issuance(served: Served, *, clients: int, per_request: int, seconds: float, max_bills: int) -> dict[str, Any]:
    """`clients` threads POST `per_request` bills a request until `seconds` or `max_bills`; then wait for anchoring."""
    body = json.dumps([sample_payload()] * per_request, ensure_ascii=False).encode()
    watcher = BatchWatcher(served.engine)
    watcher.start()
    results: list[Any] = []
    lock = threading.Lock()
    budget = [max_bills]
    start = time.time()
    deadline = start + seconds
    threads = [
        threading.Thread(target=_client, args=(served, body, per_request, deadline, budget, lock, results))
        for _ in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load_end = time.time()
    errors = [r for r in results if r[0] == "error"]
    done = [r for r in results if r[0] != "error"]
    submitted = {bill_id: sent for sent, _, bills in done for bill_id, _ in bills}
    pending_q = sa.text("SELECT count(*) FROM bills WHERE status = 'pending'")
    wait_deadline = time.time() + 120
    while True:
        with served.engine.connect() as conn:
            pending = conn.execute(pending_q).scalar_one()
        if pending == 0 or time.time() > wait_deadline:
            break
        time.sleep(0.1)
    time.sleep(watcher.period * 2)  # let the watcher see the last batch
    watcher.halt.set()
    watcher.join()
    with served.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, batch_id FROM bills")).all()
        batches = conn.execute(sa.text("SELECT count(*), max(size) FROM anchor_batches")).one()
    latencies = [
        watcher.seen[batch_id] - submitted[bill_id]
        for bill_id, batch_id in rows
        if bill_id in submitted and batch_id in watcher.seen
    ]
    n = len(submitted)
    last_anchored = max(watcher.seen.values()) if watcher.seen else load_end
    request_latencies = [d - s for s, d, _ in done]
    return {
        "bills": n,
        "anchored": len(latencies),
        "pending_left": pending,
        "errors": len(errors),
        "first_error": errors[0][1:] if errors else None,
        "clients": clients,
        "bills_per_request": per_request,
        "load_s": load_end - start,
        "api_bills_per_s": n / (load_end - start),
        "api_request_p50_ms": percentile(request_latencies, 50) * 1e3 if request_latencies else None,
        "bills_per_s": n / (last_anchored - start),
        "created_to_anchored_s": last_anchored - start,
        "latency_p50_s": percentile(latencies, 50) if latencies else None,
        "latency_p99_s": percentile(latencies, 99) if latencies else None,
        "batches": batches[0],
        "largest_batch": batches[1],
        # Many distinct bills, so that the load measures lookups and chain reads, not one cached answer.
        "sample": [url for _, _, bills in done for _, url in bills][:VERIFY_SAMPLE],
        # Other bills than the GET sample, so each endpoint meets its bills for the first time (the tiny
        # run has too few bills for that, and reuses them).
        "sample_ids": _file_sample([bill_id for _, _, bills in done for bill_id, _ in bills]),
    }


# ---------------------------------------------------------------- verification load (wrk)


def ensure_wrk() -> str:
    """wrk from Debian; installed here when missing (apt-get, as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"unknown wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    return {
        "requests_per_s": float(rps.group(1)),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "requests": int(total.group(1)),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
    }


GET_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1], {["Accept"] = "application/json"})
end
"""

POST_SCRIPT = """
local bodies = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Accept"] = "application/json"},
                    bodies[(i %% #bodies) + 1])
end
"""


def _file_sample(ids: list[str]) -> list[str]:
    return ids[VERIFY_SAMPLE : VERIFY_SAMPLE + FILE_SAMPLE] or ids[:FILE_SAMPLE]


VERIFY_SAMPLE = 2_000  # distinct verify URLs the GET load rotates through
FILE_SAMPLE = 2_000  # distinct bill files the POST load rotates through


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def wrk_load(url: str, script: str, seconds: float, connections: int = 16, threads: int = 2) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        path = handle.name
    try:
        command = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
        command += ["-s", path, url] if script else [url]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    finally:
        Path(path).unlink()
    return parse_wrk(output)


def database_bytes(served: Served) -> int:
    """The database's size as its server sees it: SQLite pages (WAL included), or the bench schema's relations."""
    with served.engine.connect() as conn:
        if served.engine.dialect.name == "sqlite":
            pages = conn.execute(sa.text("PRAGMA page_count")).scalar_one()
            return int(pages) * int(conn.execute(sa.text("PRAGMA page_size")).scalar_one())
        query = sa.text(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relkind = 'r'"
        )
        return int(conn.execute(query, {"schema": PG_SCHEMA}).scalar_one())


def tally_rows(served: Served) -> int:
    with served.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM verification_counts")).scalar_one())


TALLY_SETTLE = 2.5  # the tally flushes every 2 s: wait for the counts of a load to be written


def freshness(served: Served, paths: list[str], samples: int = 20) -> dict[str, Any]:
    """Each answer's as_of_block against the chain's head right after it (blocks behind; 0 = at the head)."""
    session = requests.Session()
    lags = []
    for path in paths[:samples]:
        answer = session.get(served.base_url + path, headers={"Accept": "application/json"}, timeout=10).json()
        head = requests.post(served.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}, timeout=5)
        block = answer.get("as_of_block")
        lags.append(None if block is None else int(head.json()["result"], 16) - int(block))
    known = [lag for lag in lags if lag is not None]
    return {"samples": len(lags), "without_block": len(lags) - len(known), "max_lag_blocks": max(known, default=None)}


def verification(
    served: Served, issued: dict[str, Any], seconds: float, *, revisit: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    """wrk (a separate process) on GET /v/<token> (JSON) and POST /api/v1/verify with a bill file.

    Also the database's growth from the verification tally: over the first-hand loads (each bill's
    counter row is new), and over a revisit of the same bills (counters only go up). Returns the figures
    and a probe (one anchored bill file) for the ceilings.
    """
    urls: list[str] = issued["sample"]
    paths = [url.removeprefix(served.base_url) for url in urls]
    check = requests.get(urls[0], headers={"Accept": "application/json"}, timeout=10)
    check.raise_for_status()
    headers = {"Authorization": f"Bearer {served.token}"}
    files = []
    for bill_id in issued["sample_ids"]:
        bill_file = requests.get(f"{served.base_url}/api/v1/bills/{bill_id}/file", headers=headers, timeout=10)
        bill_file.raise_for_status()
        files.append(bill_file.content.decode())
    posted = requests.post(
        f"{served.base_url}/api/v1/verify",
        data=files[0].encode(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    posted.raise_for_status()
    get_script = GET_SCRIPT % ", ".join(json.dumps(p) for p in paths)
    if revisit:  # (the smoke run skips the waits: its figures only show the code runs)
        time.sleep(TALLY_SETTLE)
    size0, rows0 = database_bytes(served), tally_rows(served)
    get_v = wrk_load(served.base_url, get_script, seconds)
    post_v = wrk_load(
        f"{served.base_url}/api/v1/verify", POST_SCRIPT % ", ".join(_lua_string(f) for f in files), seconds
    )
    time.sleep(TALLY_SETTLE)
    size1, rows1 = database_bytes(served), tally_rows(served)
    again = wrk_load(served.base_url, get_script, max(1.0, seconds / 2)) if revisit else dict(get_v, requests=0)
    if revisit:
        time.sleep(TALLY_SETTLE)
    size2, rows2 = database_bytes(served), tally_rows(served)
    first_hand = get_v["requests"] + post_v["requests"]
    out = {
        "load_generator": "wrk -t2 -c16 --latency (Debian package), separate process on loopback",
        "distinct_urls": len(paths),
        "distinct_files": len(files),
        "get_verdict": check.json().get("verdict", check.json().get("status")),
        "post_verdict": posted.json().get("verdict", posted.json().get("status")),
        "get_v": get_v,
        "post_verify_file": post_v,
        "get_v_revisit": again if revisit else None,
        "freshness": freshness(served, paths),
        "tally": {
            "first_hand_verifications": first_hand,
            "first_hand_rows": rows1 - rows0,
            "first_hand_bytes": size1 - size0,
            "revisit_verifications": again["requests"],
            "revisit_rows": rows2 - rows1,
            "revisit_bytes": size2 - size1,
            "bytes_per_million_revisits": (size2 - size1) / max(1, again["requests"]) * 1e6,
            "bytes_per_million_first_hand": (size1 - size0) / max(1, first_hand) * 1e6,
        },
    }
    return out, {"bill_file": json.loads(files[0]), "get_script": get_script}


def side_by_side(served: Served, probe: dict[str, Any], seconds: float, tiny: bool) -> dict[str, Any]:
    """The ceilings and the peer, on the same machine and Anvil, right after Billchain's own loads."""
    out: dict[str, Any] = {
        "bare_flask": ceilings.bare_flask(seconds, wrk_load),
        "anvil_eth_call_verify": ceilings.anvil_eth_call(
            served.rpc_url, ceilings.verify_call_body(probe["bill_file"], served.registry), seconds, wrk_load
        ),
    }
    if tiny:  # the smoke run stays short: no npm install, no profiler
        out["peer"] = None
        out["profile_after"] = None
        return out
    out["peer"] = oa_peer.run(served.rpc_url, documents=VERIFY_SAMPLE, seconds=seconds, concurrency=16)
    out["profile_after"] = profile.profile(
        served.web_pid,
        lambda s: wrk_load(served.base_url, probe["get_script"], s),
        PROFILE_SECONDS,
        save_to=REPO_ROOT / "bench-results" / "profile-after.stacks.txt",
    )
    # The same profile of the code before issue 15, when it was taken (bench/profile_before.py).
    before = REPO_ROOT / "bench-results" / "profile-before.json"
    out["profile_before"] = json.loads(before.read_text()) if before.exists() else None
    return out


PROFILE_SECONDS = 6


def run(tiny: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for database in ("sqlite", "postgresql"):
        with serve(database) as served:
            if tiny:
                issued = issuance(served, clients=2, per_request=10, seconds=1.5, max_bills=200)
            else:
                issued = issuance(served, clients=8, per_request=100, seconds=15, max_bills=30_000)
            seconds = 1 if tiny else 8
            verified, probe = verification(served, issued, seconds, revisit=not tiny)
            if database == "sqlite":  # once a run, beside the same Anvil, after the loads above
                out["side_by_side"] = side_by_side(served, probe, seconds, tiny)
        issued.pop("sample")
        issued.pop("sample_ids")
        out[database] = {"issuance": issued, "verification": verified}
    return out
