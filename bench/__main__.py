"""`python -m bench [--tiny]`: every benchmark in one run, one table, bench-results/latest.json."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from bench import domain, e2e, gas, imports, schema_fuzz, setup_time, soak, timeouts
from bench.machine import machine_info
from bench.report import print_table, targets
from dev.devchain import REPO_ROOT

RESULTS = REPO_ROOT / "bench-results"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, each benchmark once (smoke run, < 60 s)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    logging.getLogger("alembic").setLevel(logging.WARNING)

    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine_info(), "tiny": args.tiny}
    for name, section in (
        ("gas", gas.run),
        ("domain", domain.run),
        ("e2e", e2e.run),
        ("imports", imports.run),
        ("setup", setup_time.run),
        ("schema_fuzz", schema_fuzz.run),
        ("soak", soak.run),
        ("timeouts", timeouts.run),
    ):
        section_start = time.perf_counter()
        results[name] = section(args.tiny)
        results[name]["section_s"] = time.perf_counter() - section_start
    results["targets"] = targets(results)
    results["total_s"] = time.perf_counter() - started

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    print_table(results)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
