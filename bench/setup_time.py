"""Set-up time: `make compile` (venv, npm ci, solc shim, anvil link, ape compile) in a fresh clone, warm caches."""

from __future__ import annotations

import subprocess
import tempfile
import time
from typing import Any

from dev.devchain import REPO_ROOT


def run(tiny: bool) -> dict[str, Any]:
    if tiny:
        return {"skipped": True, "make_compile_s": 0.0}
    with tempfile.TemporaryDirectory(prefix="billchain-clone-") as tmp:
        subprocess.run(["git", "clone", "-q", str(REPO_ROOT), tmp], check=True)
        start = time.perf_counter()
        done = subprocess.run(["make", "compile"], cwd=tmp, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
    return {
        "skipped": False,
        "make_compile_s": elapsed,
        "ok": done.returncode == 0,
        "tail": done.stderr[-500:] if done.returncode else "",
    }
