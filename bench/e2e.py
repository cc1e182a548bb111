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

from bench.domain import sample_payload
from bench.server import Served, serve
from bench.stats import percentile


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
        command = [
            ensure_wrk(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            path,
            url,
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    finally:
        Path(path).unlink()
    return parse_wrk(output)


def verification(served: Served, issued: dict[str, Any], seconds: float) -> dict[str, Any]:
    """wrk (a separate process) on GET /v/<token> (JSON) and POST /api/v1/verify with a bill file."""
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
    out = {
        "load_generator": "wrk -t2 -c16 --latency (Debian package), separate process on loopback",
        "distinct_urls": len(paths),
        "distinct_files": len(files),
        "get_verdict": check.json().get("verdict", check.json().get("status")),
        "post_verdict": posted.json().get("verdict", posted.json().get("status")),
        "get_v": wrk_load(served.base_url, get_script, seconds),
        "post_verify_file": wrk_load(
            f"{served.base_url}/api/v1/verify", POST_SCRIPT % ", ".join(_lua_string(f) for f in files), seconds
        ),
    }
    return out


def run(tiny: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for database in ("sqlite", "postgresql"):
        with serve(database) as served:
            if tiny:
                issued = issuance(served, clients=2, per_request=10, seconds=1.5, max_bills=200)
            else:
                issued = issuance(served, clients=8, per_request=100, seconds=15, max_bills=30_000)
            verified = verification(served, issued, 1 if tiny else 8)
        issued.pop("sample")
        issued.pop("sample_ids")
        out[database] = {"issuance": issued, "verification": verified}
    return out
