"""Soak: minutes of mixed issue / verify / claim load on the served app (gunicorn + worker, loopback only).

Bounded: a few client threads, each waiting for its answer before the next request. Each minute: the RSS
of the server (gunicorn master and its workers, from /proc), requests, errors, latency percentiles.
Memory must stay flat and the error rate 0. SQLite only: the claimant is onboarded beside the served
app through its own keystore folder, which serve() keeps next to the SQLite file.

Every failed request is printed (stderr) and kept in the result with its kind, status and body, so an
error is never only a count. `python -m bench.soak [SECONDS]` runs the soak on its own.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from app import create_app
from app.bills.identifiers import credit_code_check_char
from app.extensions import db
from app.models import Organisation, OrgStatus
from app.services.organisations import onboard_organisation
from bench.domain import sample_payload
from bench.server import Served, serve
from bench.stats import percentile
from dev.devchain import ANVIL_DEV_KEYS

CLIENTS = 4
TIMEOUT = 60  # seconds a request may take before it counts as an error (and is printed as one)
KEPT_ERRORS = 50  # failed requests kept in the result, each with its status and body


def _rss_kb(pid: int) -> int:
    """RSS of a process and its children (gunicorn workers), in kB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total


def _claimant_token(served: Served) -> str:
    """A reimbursing unit, onboarded through the app's services into the served app's keystore."""
    tmp = Path(served.database_url.removeprefix("sqlite:///")).parent
    app = create_app(
        {
            "BILLCHAIN_DATABASE_URL": served.database_url,
            "BILLCHAIN_RPC_URL": served.rpc_url,
            "BILLCHAIN_REGISTRY": served.registry,
            "BILLCHAIN_KEYSTORE_DIR": str(tmp / "keystore"),
            "BILLCHAIN_KEYSTORE_PASSWORD": "bench-password",
            "BILLCHAIN_KEYSTORE_KDF_N": 2**10,
            "BILLCHAIN_ADMIN_KEY": ANVIL_DEV_KEYS[0],
            "BILLCHAIN_SECRET_KEY": "bench-secret",
            "BILLCHAIN_WORKER": False,
            "BILLCHAIN_INSTANCE_PATH": str(tmp / "instance"),
        }
    )
    first17 = "91110000500000009"
    with app.app_context():
        done = onboard_organisation("示例人寿保险", first17 + credit_code_check_char(first17), "claimant", actor="b")
        org_id, token = done.organisation.id, done.token
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the served anchor worker confirms the registration
        with app.app_context():
            db.session.expire_all()
            if getattr(db.session.get(Organisation, org_id), "status", None) == OrgStatus.ACTIVE:
                db.session.remove()
                db.engine.dispose()
                return token
        time.sleep(0.2)
    raise RuntimeError("the claimant's registration was not confirmed")


def _summary(r: requests.Response) -> str:
    """A verification's verdict, failed check and blocks, ahead of its (cut) body."""
    try:
        answer = r.json()
    except ValueError:
        return ""
    if not isinstance(answer, dict) or "verdict" not in answer:
        return ""
    anchored_in = (answer.get("anchoring") or {}).get("block_number")
    return (
        f"[verdict {answer['verdict']}, failed check {answer.get('failed_check')}, "
        f"as of block {answer.get('as_of_block')}, anchored in block {anchored_in}] "
    )


def _verified(r: requests.Response) -> bool:
    return r.status_code == 200 and r.json()["verdict"] in ("authentic", "claimed")


class Load:
    def __init__(self, served: Served, claimant: str, seconds: float) -> None:
        self.served = served
        self.claimant = claimant
        self.deadline = time.monotonic() + seconds
        self.started = time.monotonic()
        self.last_minute = max(0, int(seconds // 60) - 1)
        self.lock = threading.Lock()
        self.anchored: list[tuple[str, str]] = []  # (bill id, verify url), not yet claimed
        self.issued: list[str] = []
        self.samples: dict[int, list[tuple[str, float, bool]]] = defaultdict(list)  # minute → (kind, s, ok)
        self.failures: list[dict[str, Any]] = []

    def minute(self) -> int:
        return min(int((time.monotonic() - self.started) // 60), self.last_minute)  # the last answers count too

    def record(self, kind: str, seconds: float, ok: bool) -> None:
        with self.lock:
            self.samples[self.minute()].append((kind, seconds, ok))

    def fail(self, kind: str, target: str, status: int | None, body: str) -> None:
        """A failed request: printed at once, and kept (the first KEPT_ERRORS) with its status and body."""
        failure = {
            "minute": self.minute() + 1,
            "at_s": round(time.monotonic() - self.started, 1),
            "kind": kind,
            "target": target,
            "status": status,
            "body": body[:1000],
        }
        print(f"soak error: {json.dumps(failure, ensure_ascii=False)}", file=sys.stderr, flush=True)
        with self.lock:
            if len(self.failures) < KEPT_ERRORS:
                self.failures.append(failure)

    def send(
        self, session: requests.Session, kind: str, path: str, good: Callable[[requests.Response], bool], **kw: Any
    ) -> None:
        """One POST; ok when `good(response)`; anything else (a status, a body, an exception) is a failure."""
        target = f"POST {path} {json.dumps(kw.get('json'), ensure_ascii=False)[:200]}"
        sent = time.perf_counter()
        try:
            r = session.post(f"{self.served.base_url}{path}", timeout=TIMEOUT, **kw)
        except requests.RequestException as err:
            self.record(kind, time.perf_counter() - sent, False)
            self.fail(kind, target, None, f"{type(err).__name__}: {err}")
            return
        elapsed = time.perf_counter() - sent
        try:
            ok = good(r)
        except (ValueError, KeyError):  # not JSON, or not the JSON expected
            ok = False
        self.record(kind, elapsed, ok)
        if not ok:
            self.fail(kind, target, r.status_code, _summary(r) + r.text)

    def _issued(self, r: requests.Response) -> bool:
        if r.status_code != 201:
            return False
        with self.lock:
            self.issued.append(r.json()["id"])
        return True

    def client(self, n: int) -> None:
        session = requests.Session()
        issuer = {"Authorization": f"Bearer {self.served.token}"}
        claimant = {"Authorization": f"Bearer {self.claimant}"}
        step = n
        while time.monotonic() < self.deadline:
            step += 1
            kind = ("issue", "verify", "verify", "claim")[step % 4]
            if kind == "issue":
                self.send(session, kind, "/api/v1/bills", self._issued, json=sample_payload(), headers=issuer)
            elif kind == "verify":
                with self.lock:
                    target = self.anchored[step % len(self.anchored)] if self.anchored else None
                if target is None:
                    time.sleep(0.05)  # nothing anchored yet
                    continue
                self.send(session, kind, "/api/v1/verify", _verified, json={"url": target[1]})
            else:
                with self.lock:
                    target = self.anchored.pop() if len(self.anchored) > 10 else None
                if target is None:
                    time.sleep(0.05)  # keep a few anchored bills to verify
                    continue
                self.send(
                    session,
                    kind,
                    f"/api/v1/bills/{target[0]}/claim",
                    lambda r: r.status_code in (200, 202),
                    json={"claim_ref": f"SOAK-{step}"},
                    headers=claimant,
                )

    def watcher(self) -> None:
        """Moves issued bills to the anchored pool once the chain has them."""
        session = requests.Session()
        issuer = {"Authorization": f"Bearer {self.served.token}"}
        while time.monotonic() < self.deadline:
            with self.lock:
                waiting, self.issued = self.issued, []
            still = []
            for bill_id in waiting:
                try:
                    r = session.get(f"{self.served.base_url}/api/v1/bills/{bill_id}", headers=issuer, timeout=TIMEOUT)
                except requests.RequestException as err:  # not a load request: printed, tried again
                    print(f"soak watcher: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
                    still.append(bill_id)
                    continue
                if r.status_code == 200 and r.json()["status"] == "anchored":
                    with self.lock:
                        self.anchored.append((bill_id, r.json()["verify_url"]))
                else:
                    still.append(bill_id)
            with self.lock:
                self.issued += still
            time.sleep(0.5)


def _database_kb(served: Served) -> int:
    """The SQLite database with its WAL and shared-memory files, in kB."""
    path = Path(served.database_url.removeprefix("sqlite:///"))
    return (
        sum(
            p.stat().st_size
            for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
            if p.exists()
        )
        // 1024
    )


def run(tiny: bool, seconds: float | None = None) -> dict[str, Any]:
    """The soak (600 s, or 6 s when tiny; `seconds` overrides): RSS, requests, errors and latencies per minute."""
    seconds = seconds if seconds is not None else (6.0 if tiny else 600.0)
    period = 2.0 if tiny else 60.0
    with serve("sqlite", anchor_interval=0.5) as served:
        claimant = _claimant_token(served)
        load = Load(served, claimant, seconds)
        rss: list[int] = [_rss_kb(served.web_pid)]
        database_kb: list[int] = [_database_kb(served)]
        threads = [threading.Thread(target=load.client, args=(i,), daemon=True) for i in range(CLIENTS)]
        threads.append(threading.Thread(target=load.watcher, daemon=True))
        for t in threads:
            t.start()
        next_sample = time.monotonic() + period
        while any(t.is_alive() for t in threads[:CLIENTS]):
            time.sleep(0.2)
            if time.monotonic() >= next_sample:
                rss.append(_rss_kb(served.web_pid))
                database_kb.append(_database_kb(served))
                print(f"soak: {len(rss) - 1} × {period:.0f} s, server RSS {rss[-1] / 1024:.0f} MB", file=sys.stderr)
                next_sample += period
        rss.append(_rss_kb(served.web_pid))
        database_kb.append(_database_kb(served))
    minutes: list[dict[str, Any]] = []
    for minute, samples in sorted(load.samples.items()):
        times = [s * 1e3 for _, s, _ in samples]
        minutes.append(
            {
                "minute": minute + 1,
                "requests": len(samples),
                "errors": sum(1 for *_, ok in samples if not ok),
                "by_kind": {k: sum(1 for kind, *_ in samples if kind == k) for k in ("issue", "verify", "claim")},
                "p50_ms": percentile(times, 50),
                "p99_ms": percentile(times, 99),
                "max_ms": max(times),
                # the server's RSS and the database's size at the end of this minute (the full run only)
                "rss_kb": rss[minute + 1] if not tiny and minute + 1 < len(rss) else None,
                "database_kb": database_kb[minute + 1] if not tiny and minute + 1 < len(database_kb) else None,
            }
        )
    requests_total = sum(m["requests"] for m in minutes)
    errors = sum(m["errors"] for m in minutes)
    return {
        "seconds": seconds,
        "clients": CLIENTS,
        "requests": requests_total,
        "errors": errors,
        "error_rate": errors / requests_total if requests_total else 0.0,
        "error_samples": load.failures,
        "rss_kb": rss,
        "rss_growth_kb": rss[-1] - rss[1] if len(rss) > 2 else 0,
        # after warm-up: the largest deviation from their mean of the last 7 samples (minutes), in %
        "rss_last7_deviation_pct": 100
        * max(abs(v - sum(rss[-7:]) / len(rss[-7:])) for v in rss[-7:])
        / (sum(rss[-7:]) / len(rss[-7:])),
        "database_kb": database_kb,
        "minutes": minutes,
    }


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    report(run(False, seconds))


def report(result: dict[str, Any]) -> None:
    """Write the result (SOAK_OUT, default bench-results/soak.json) and print it per minute."""
    out = Path(os.environ.get("SOAK_OUT", "bench-results/soak.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"{'min':>3} {'RSS MB':>7} {'req':>6} {'err':>4} {'p50 ms':>7} {'p99 ms':>7} {'db MB':>6}")
    for m in result["minutes"]:
        rss, size = m["rss_kb"], m["database_kb"]
        print(
            f"{m['minute']:>3} {rss / 1024 if rss else 0:>7.1f} {m['requests']:>6} {m['errors']:>4} "
            f"{m['p50_ms']:>7.1f} {m['p99_ms']:>7.1f} {size / 1024 if size else 0:>6.1f}"
        )
    print(f"errors: {result['errors']}; written {out}")
    for failure in result["error_samples"]:
        print(json.dumps(failure, ensure_ascii=False))


if __name__ == "__main__":
    main()
