"""The rate limiter's cost on GET /v/<token>: Redis commands per request and req/s, before and after.

    python -m bench.profile_ratelimit [BEFORE_COMMIT] [SECONDS]

In one run, for main at BEFORE_COMMIT (default HEAD, exported with `git archive`; the work tree is not
touched) and then for this tree: serve the app as `make bench` does (limiter on the local Redis, db 0),
issue and anchor a few hundred bills, send REQUESTS sequential GET /v/<token> (JSON) while `redis-cli
monitor` records every command the app sends to db 0 (each one a round trip; the commands a Lua script
runs inside Redis are counted apart), then wrk for SECONDS. Writes
bench-results/ratelimit.json. Another user of Redis db 0 at the same time would add to the counts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from dev.devchain import REPO_ROOT

REQUESTS = 300

SCRIPT = """
import collections, json, subprocess, sys, tempfile, time
import requests
from bench import e2e
from bench.server import serve

requests_n, seconds = int(sys.argv[1]), float(sys.argv[2])
with serve("sqlite") as served:
    issued = e2e.issuance(served, clients=2, per_request=100, seconds=3, max_bills=1000)
    paths = [u.removeprefix(served.base_url) for u in issued["sample"]]
    session = requests.Session()
    accept = {"Accept": "application/json"}
    for path in paths[:20]:  # warm: first answers, index caught up
        session.get(served.base_url + path, headers=accept, timeout=10).raise_for_status()
    with tempfile.TemporaryFile("w+") as log:
        monitor = subprocess.Popen(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "monitor"], stdout=log)
        time.sleep(0.5)
        headers = None
        for i in range(requests_n):
            answer = session.get(served.base_url + paths[i % len(paths)], headers=accept, timeout=10)
            answer.raise_for_status()
            named = ("x-ratelimit", "retry-after")
            headers = headers or {k: v for k, v in answer.headers.items() if k.lower().startswith(named)}
        time.sleep(0.5)
        monitor.terminate()
        monitor.wait()
        log.seek(0)
        commands, in_scripts = collections.Counter(), collections.Counter()
        for line in log:
            parts = line.split(" ", 4)  # `TIME [DB CLIENT] "COMMAND" ...`; CLIENT is "lua]" inside a script
            if len(parts) > 3 and parts[1] == "[0":  # db 0 only
                (in_scripts if parts[2] == "lua]" else commands)[parts[3].strip('"').upper()] += 1
    load = e2e.wrk_load(served.base_url, e2e.GET_SCRIPT % ", ".join(json.dumps(p) for p in paths), seconds)
total = sum(commands.values())
print(json.dumps({
    "requests": requests_n,
    "redis_commands": total,
    "redis_commands_per_request": total / requests_n,
    "by_command": dict(commands),
    "inside_scripts": dict(in_scripts),  # run by Redis itself within the EVALSHA: no round trip
    "ratelimit_headers_on_200": headers,
    "get_v": load,
}))
"""


def _tree(commit: str, tmp: Path) -> Path:
    """`git archive` of `commit` into tmp, with this tree's venv, node_modules and compiled registry."""
    git_dir = os.environ.get("BENCH_GIT_DIR", str(REPO_ROOT))  # a copy of the tree without .git names its repo
    archive = subprocess.run(["git", "archive", commit], cwd=git_dir, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
    shutil.copytree(REPO_ROOT / ".build", tmp / ".build")
    for shared in ("node_modules", ".venv"):
        (tmp / shared).symlink_to(REPO_ROOT / shared)
    for vendored in ("app/static/vendor",):
        if (REPO_ROOT / vendored).exists():
            shutil.copytree(REPO_ROOT / vendored, tmp / vendored)
    shutil.copyfile(REPO_ROOT / "bench" / "e2e.py", tmp / "bench" / "e2e.py")  # the same load tools
    return tmp


def measure(tree: Path, requests_n: int, seconds: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(requests_n), str(seconds)],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the measurement in {tree} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    commit = sys.argv[1] if len(sys.argv) > 1 else "HEAD"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    with tempfile.TemporaryDirectory(prefix="billchain-ratelimit-before-") as tmp:
        before = measure(_tree(commit, Path(tmp)), REQUESTS, seconds) | {"commit": commit}
    after = measure(REPO_ROOT, REQUESTS, seconds) | {"tree": str(REPO_ROOT)}
    out = REPO_ROOT / "bench-results" / "ratelimit.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"before": before, "after": after}, indent=2) + "\n")
    for name, r in (("before", before), ("after", after)):
        load = r["get_v"]
        print(
            f"{name:>6}: {r['redis_commands_per_request']:.2f} Redis commands per GET /v/ {r['by_command']}; "
            f"{load['requests_per_s']:,.0f} req/s, p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms; "
            f"headers on a 200: {r['ratelimit_headers_on_200']}"
        )
    print(f"written {out}")


if __name__ == "__main__":
    main()
