"""`python -m bench --tiny` runs every benchmark end to end (real Anvil, gunicorn, SQLite, PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _numbers(section: dict[str, object], keys: tuple[str, ...]) -> None:
    for key in keys:
        assert isinstance(section[key], int | float), key


def test_tiny_bench_writes_every_section_with_numbers(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, "-m", "bench", "--tiny", "--out", str(out)], cwd=REPO, check=True, timeout=600)
    results = json.loads(out.read_text())
    assert {"machine", "gas", "domain", "e2e", "imports", "setup", "schema_fuzz", "soak", "timeouts", "targets"} <= set(
        results
    )
    assert results["imports"]["sqlite"]["rows"] == results["imports"]["postgresql"]["rows"] > 0
    _numbers(results["machine"], ("nproc",))
    _numbers(
        results["gas"],
        ("deploy", "register_organisation", "anchor_single", "anchor_root_1000", "claim_tree_1000", "void"),
    )
    _numbers(results["domain"], ("hash_sign_ms", "merkle_10000_ms", "qr_svg_ms", "qr_png_ms", "qr_photo_decode_ms"))
    for database in ("sqlite", "postgresql"):
        issued = results["e2e"][database]["issuance"]
        _numbers(issued, ("bills", "bills_per_s", "latency_p50_s", "latency_p99_s"))
        for kind in ("get_v", "post_verify_file"):
            _numbers(results["e2e"][database]["verification"][kind], ("requests_per_s", "p50_ms", "p99_ms"))
    fuzz = results["schema_fuzz"]  # a few dozen generated API cases, every role: none may fail
    assert fuzz["cases"] >= 40 and fuzz["server_errors"] == 0 and fuzz["failures"] == 0, fuzz["examples"]
    soak = results["soak"]  # a few seconds of mixed issue / verify / claim load
    assert soak["requests"] > 0 and soak["errors"] == 0
    assert soak["minutes"] and all(m["p99_ms"] >= m["p50_ms"] for m in soak["minutes"])
    _numbers(results["timeouts"], ("receipt_timeout_0_3_s", "killed_node_s", "hung_node_timeout_0_5_s"))
    side = results["e2e"]["side_by_side"]
    _numbers(side["bare_flask"], ("requests_per_s", "p99_ms"))
    _numbers(side["anvil_eth_call_verify"], ("requests_per_s", "p99_ms"))
    for database in ("sqlite", "postgresql"):
        verified = results["e2e"][database]["verification"]
        assert verified["freshness"]["without_block"] == 0  # every answer names its block
        _numbers(verified["tally"], ("first_hand_rows", "first_hand_bytes"))
    assert all(isinstance(t["pass"], bool) for t in results["targets"])
