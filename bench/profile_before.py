"""The "before" profile: main's code at a commit (default HEAD), served and loaded as `make bench` does.

    python -m bench.profile_before [COMMIT]

Exports the commit with `git archive` into a temporary folder (the work tree is not touched), serves
it with this venv and compiled registry, and writes bench-results/profile-before.json, which the next
`make bench` prints beside its own profile.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from dev.devchain import REPO_ROOT

SCRIPT = """
import json
from bench import e2e, profile
from bench.server import serve

with serve("sqlite") as served:
    issued = e2e.issuance(served, clients=8, per_request=100, seconds=6, max_bills=6000)
    paths = [u.removeprefix(served.base_url) for u in issued["sample"]]
    script = e2e.GET_SCRIPT % ", ".join(json.dumps(p) for p in paths)
    plain = e2e.wrk_load(served.base_url, script, 8)
    prof = profile.profile(served.web_pid, lambda s: e2e.wrk_load(served.base_url, script, s), 6)
print(json.dumps({"get_v": plain, **prof}))
"""


def main() -> None:
    commit = sys.argv[1] if len(sys.argv) > 1 else "HEAD"
    with tempfile.TemporaryDirectory(prefix="billchain-before-") as tmp:
        tree = Path(tmp)
        archive = subprocess.run(["git", "archive", commit], cwd=REPO_ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        shutil.copytree(REPO_ROOT / ".build", tree / ".build")
        for shared in ("node_modules", ".venv"):  # Anvil and the tools, as installed here
            (tree / shared).symlink_to(REPO_ROOT / shared)
        shutil.copyfile(REPO_ROOT / "bench" / "profile.py", tree / "bench" / "profile.py")  # the same profiler
        server = tree / "bench" / "server.py"  # a busy machine boots gunicorn slowly: wait as long as now
        server.write_text(server.read_text().replace("timeout: float = 30)", "timeout: float = 120)"))
        done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tree, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"the profile of {commit} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1]) | {"commit": commit}
    out = REPO_ROOT / "bench-results" / "profile-before.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"get_v": result["get_v"], "parts": result.get("parts")}, indent=2))


if __name__ == "__main__":
    main()
