"""Where a verification's time goes: py-spy samples the gunicorn workers under a wrk load.

`parts` splits the workers' busy samples by where the innermost known frame is (they add up to 100 %);
`inclusive` is the share with a frame on the stack; `top_self` the functions the samples were in.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Each busy sample goes to the first part, from the innermost frame outwards, that one of its frames
# belongs to (a py-spy frame reads "function (path/file.py:line)"); the shares add up to 100 %.
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("JSON-RPC to the node (eth_call, eth_blockNumber)", ("app/chain/transport.py",)),
    ("chain client (encoding, decoding)", ("app/chain/",)),
    ("signature recovery (coincurve)", ("coincurve/", "_recover (")),
    ("EIP-712 hashing", ("app/bills/hashing.py",)),
    ("database (SQLAlchemy, driver)", ("sqlalchemy/", "psycopg", "sqlite3")),
    ("domain checks (app/bills, eth_utils)", ("app/bills/", "eth_utils/", "eth_hash/")),
    ("verification service (reader, index, caches, tally)", ("app/services/",)),
    ("answer to JSON", ("json/", "jsonify (", "to_dict (")),
    ("views (app/web, app/api)", ("app/web/", "app/api/")),
    ("rate limiter (flask-limiter, limits)", ("flask_limiter/", "limits/")),
    ("Flask and Werkzeug machinery", ("flask/", "werkzeug/", "flask_smorest/", "flask_login/", "flask_babel/")),
    ("gunicorn (parsing, writing, threads)", ("gunicorn/",)),
]
# Inclusive shares of a few frames (nesting: the view holds verification, which holds the chain read).
INCLUSIVE: list[tuple[str, tuple[str, ...]]] = [
    ("in the view", ("verify_link (", "verify_endpoint (")),
    ("in verify_any", ("verify_any (",)),
    ("in the chain record (index or eth_call)", ("bill_record (",)),
]


def ensure_py_spy() -> str | None:
    """py-spy from this venv (requirements-dev.txt), else from PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def worker_pids(master: int) -> list[int]:
    """gunicorn's worker processes: the children of its master."""
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def profile(
    master: int, load: Callable[[float], dict[str, Any]], seconds: float, save_to: Path | None = None
) -> dict[str, Any]:
    """Sample every worker of gunicorn `master` while `load(seconds)` runs; the parts and top functions.

    `save_to` keeps the collapsed stacks (flamegraph.pl / speedscope read them)."""
    spy = ensure_py_spy()
    if spy is None:
        return {"skipped": "py-spy is not installed (requirements-dev.txt)"}
    with tempfile.TemporaryDirectory(prefix="billchain-profile-") as tmp:
        spies = []
        for pid in worker_pids(master):
            out = Path(tmp) / f"{pid}.txt"
            command = [spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
            command += ["--rate", "200", "--format", "raw", "--nonblocking", "--output", str(out)]
            spies.append((out, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
        loaded = load(seconds)
        stacks: Counter[str] = Counter()
        for out, process in spies:
            process.wait(60)
            if out.exists():
                for line in out.read_text().splitlines():
                    stack, _, count = line.rpartition(" ")
                    if stack and count.isdigit():
                        stacks[stack] += int(count)
    if save_to is not None:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        save_to.write_text("".join(f"{stack} {n}\n" for stack, n in stacks.most_common()))
    return summarise(stacks) | {"load": loaded}


def _part(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        for label, needles in PARTS:
            if any(needle in frame for needle in needles):
                return label
    return "other"


def summarise(stacks: Counter[str]) -> dict[str, Any]:
    total = sum(stacks.values())
    if not total:
        return {"samples": 0, "parts": {}, "inclusive": {}, "top_self": []}
    parts: Counter[str] = Counter()
    for stack, n in stacks.items():
        parts[_part(stack)] += n
    inclusive = {
        label: round(100 * sum(n for stack, n in stacks.items() if any(x in stack for x in needles)) / total, 1)
        for label, needles in INCLUSIVE
    }
    own: Counter[str] = Counter()
    for stack, n in stacks.items():
        own[stack.rsplit(";", 1)[-1]] += n
    return {
        "samples": total,
        "parts": {label: round(100 * n / total, 1) for label, n in parts.most_common()},
        "inclusive": inclusive,
        "top_self": [(frame, round(100 * n / total, 1)) for frame, n in own.most_common(12)],
    }
