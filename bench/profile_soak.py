"""What grows and what slows in the served app under the soak, per process, per period.

    python -m bench.profile_soak [SECONDS]

Runs the soak's load for SECONDS (default 180) with a `sitecustomize` on the servers' PYTHONPATH that
calls install() in every process of the app (gunicorn workers and the anchor worker). From its first SQL
statement on, each process appends to bench-results/soak-profile/<pid>.txt, every SOAKPROFILE_PERIOD
seconds: its RSS; in a web worker the entries and bytes (deep size) of the verification caches and the
in-memory index; the SQL statements that took the most time in the period (count, total, mean); and
with SOAKPROFILE_TRACE=1 the allocation sites (tracemalloc) that grew most since its first period.
Tracing slows the processes: its figures are for finding what grows, not for throughput.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import tracemalloc
import types
from pathlib import Path
from typing import Any

PERIOD = float(os.environ.get("SOAKPROFILE_PERIOD", "60"))
OUT = Path(os.environ.get("SOAKPROFILE_DIR", "bench-results/soak-profile")).resolve()
TRACE = bool(os.environ.get("SOAKPROFILE_TRACE"))  # tracemalloc too (slow: it doubles a worker's memory)


def deep_size(root: object) -> int:
    """Bytes of `root` and everything it reaches (modules, classes and functions excluded)."""
    seen: set[int] = set()
    stack, total = [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | types.ModuleType | types.FunctionType | types.BuiltinFunctionType):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def _parts() -> dict[str, tuple[int, int]]:
    """(entries, bytes) of what verification keeps in memory, in a web worker (app.wsgi)."""
    wsgi = sys.modules.get("app.wsgi")
    if wsgi is None:
        return {}
    rt = wsgi.app.extensions["billchain"]
    recover = getattr(sys.modules.get("app.bills.verification"), "_recover", None)
    out_lru = {"recover_lru": (recover.cache_info().currsize, 0)} if recover is not None else {}
    reader, files = rt.verify_reader, rt.bill_file_cache
    parts: dict[str, tuple[int, int]] = {}
    if files is not None:
        parts["bill_file_cache"] = (len(files._files), deep_size(files._files))
    reader = getattr(reader, "current", reader)  # the v1 reader behind a registry switch, where there is one
    if reader is not None and hasattr(reader, "answers"):
        parts["answer_cache"] = (len(reader.answers._answers), deep_size(reader.answers._answers))
        parts["orgs"] = (len(reader._orgs), deep_size(reader._orgs))
        index = reader.index
        parts["index_anchors"] = (len(index.anchors), deep_size(index.anchors))
        parts["index_settlements"] = (len(index.settlements), deep_size(index.settlements))
    return parts | out_lru


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


_SQL: dict[str, list[float]] = {}  # statement → [count, seconds] in the current period
_SQL_LOCK = threading.Lock()
_STARTED: list[int] = []


def _watch() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{os.getpid()}.txt"
    first = None
    started = time.monotonic()
    while True:
        time.sleep(PERIOD)
        with _SQL_LOCK:
            period = dict(_SQL)
            _SQL.clear()
        lines = [f"== {time.monotonic() - started:.0f} s: RSS {_rss_kb() / 1024:.1f} MB, {' '.join(sys.argv)[:80]}"]
        lines += [f"  {name}: {n} entries, {size / 2**20:.2f} MB" for name, (n, size) in _parts().items()]
        queries = sum(int(n) for n, _ in period.values())
        lines.append(f"  SQL: {queries} statements, {sum(t for _, t in period.values()):.1f} s")
        for statement, (n, seconds) in sorted(period.items(), key=lambda kv: -kv[1][1])[:8]:
            lines.append(f"    {seconds:7.2f} s {int(n):7d} × {seconds / n * 1e3:7.2f} ms  {statement}")
        if TRACE:
            snapshot = tracemalloc.take_snapshot()
            if first is None:
                first = snapshot
            else:
                for stat in snapshot.compare_to(first, "lineno")[:15]:
                    lines.append(f"  {stat.size_diff / 1024:+10.0f} KiB {stat.count_diff:+8d} blocks  {stat.traceback}")
        with path.open("a") as handle:
            handle.write("\n".join(lines) + "\n")


def install() -> None:
    """Time every SQL statement of this process; the watcher starts with the first one (after any fork)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if TRACE:
        tracemalloc.start(1)

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info.setdefault("soak_started", []).append(time.perf_counter())

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        elapsed = time.perf_counter() - conn.info["soak_started"].pop()
        key = " ".join(statement.split())[:160]
        with _SQL_LOCK:
            if os.getpid() not in _STARTED:
                _STARTED.append(os.getpid())
                threading.Thread(target=_watch, daemon=True, name="soak-profile").start()
            entry = _SQL.setdefault(key, [0, 0.0])
            entry[0] += 1
            entry[1] += elapsed


SITECUSTOMIZE = """import os
if os.environ.get("SOAKPROFILE"):
    import bench.profile_soak
    bench.profile_soak.install()
"""


def main() -> None:
    import tempfile

    from bench import soak
    from dev.devchain import REPO_ROOT

    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 180.0
    with tempfile.TemporaryDirectory(prefix="billchain-soak-profile-") as tmp:
        (Path(tmp) / "sitecustomize.py").write_text(SITECUSTOMIZE)
        # serve() passes every variable but BILLCHAIN_* on to gunicorn and the anchor worker
        os.environ["PYTHONPATH"] = f"{REPO_ROOT}:{tmp}"
        os.environ["SOAKPROFILE"] = "1"
        os.environ["SOAKPROFILE_DIR"] = str(OUT)
        result = soak.run(False, seconds)
    soak.report(result)
    print(f"per process: {OUT}/*.txt")


if __name__ == "__main__":
    main()
