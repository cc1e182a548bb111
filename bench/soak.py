"""Soak: minutes of mixed issue / verify / claim load on the served app (gunicorn + worker, loopback only).

Bounded: a few client threads, each waiting for its answer before the next request. Each minute: the RSS
of the server (gunicorn master and its workers, from /proc), requests, errors, latency percentiles.
Memory must stay flat and the error rate 0. SQLite only: the claimant is onboarded beside the served
app through its own keystore folder, which serve() keeps next to the SQLite file.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
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

    def record(self, kind: str, seconds: float, ok: bool) -> None:
        minute = min(int((time.monotonic() - self.started) // 60), self.last_minute)  # the last answers count too
        with self.lock:
            self.samples[minute].append((kind, seconds, ok))

    def client(self, n: int) -> None:
        session = requests.Session()
        issuer = {"Authorization": f"Bearer {self.served.token}"}
        claimant = {"Authorization": f"Bearer {self.claimant}"}
        step = n
        while time.monotonic() < self.deadline:
            step += 1
            kind = ("issue", "verify", "verify", "claim")[step % 4]
            sent = time.perf_counter()
            if kind == "issue":
                r = session.post(f"{self.served.base_url}/api/v1/bills", json=sample_payload(), headers=issuer)
                ok = r.status_code == 201
                if ok:
                    with self.lock:
                        self.issued.append(r.json()["id"])
            elif kind == "verify":
                with self.lock:
                    target = self.anchored[step % len(self.anchored)] if self.anchored else None
                if target is None:
                    time.sleep(0.05)  # nothing anchored yet
                    continue
                r = session.post(f"{self.served.base_url}/api/v1/verify", json={"url": target[1]})
                ok = r.status_code == 200 and r.json()["verdict"] in ("authentic", "claimed")
            else:
                with self.lock:
                    target = self.anchored.pop() if len(self.anchored) > 10 else None
                if target is None:
                    time.sleep(0.05)  # keep a few anchored bills to verify
                    continue
                r = session.post(
                    f"{self.served.base_url}/api/v1/bills/{target[0]}/claim",
                    json={"claim_ref": f"SOAK-{step}"},
                    headers=claimant,
                )
                ok = r.status_code in (200, 202)
            self.record(kind, time.perf_counter() - sent, ok)

    def watcher(self) -> None:
        """Moves issued bills to the anchored pool once the chain has them."""
        session = requests.Session()
        issuer = {"Authorization": f"Bearer {self.served.token}"}
        while time.monotonic() < self.deadline:
            with self.lock:
                waiting, self.issued = self.issued, []
            still = []
            for bill_id in waiting:
                r = session.get(f"{self.served.base_url}/api/v1/bills/{bill_id}", headers=issuer)
                if r.status_code == 200 and r.json()["status"] == "anchored":
                    with self.lock:
                        self.anchored.append((bill_id, r.json()["verify_url"]))
                else:
                    still.append(bill_id)
            with self.lock:
                self.issued += still
            time.sleep(0.5)


def run(tiny: bool) -> dict[str, Any]:
    seconds = 6.0 if tiny else 600.0
    with serve("sqlite", anchor_interval=0.5) as served:
        claimant = _claimant_token(served)
        load = Load(served, claimant, seconds)
        rss: list[int] = [_rss_kb(served.web_pid)]
        threads = [threading.Thread(target=load.client, args=(i,), daemon=True) for i in range(CLIENTS)]
        threads.append(threading.Thread(target=load.watcher, daemon=True))
        for t in threads:
            t.start()
        next_sample = time.monotonic() + (2.0 if tiny else 60.0)
        while any(t.is_alive() for t in threads[:CLIENTS]):
            time.sleep(0.2)
            if time.monotonic() >= next_sample:
                rss.append(_rss_kb(served.web_pid))
                next_sample += 2.0 if tiny else 60.0
        rss.append(_rss_kb(served.web_pid))
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
        "rss_kb": rss,
        "rss_growth_kb": rss[-1] - rss[1] if len(rss) > 2 else 0,
        "minutes": minutes,
    }
