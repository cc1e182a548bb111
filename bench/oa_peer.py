"""The peer, measured on the same Anvil: OpenAttestation's oa-verify (integrity + document-store status).

bench/peer/ has its own package.json and package-lock.json (oa-verify needs ethers 5; the main
package.json keeps ethers 6), installed here with `npm ci` when missing.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from dev.devchain import ANVIL_DEV_KEYS, REPO_ROOT

PEER = REPO_ROOT / "bench" / "peer"


def ensure_peer() -> None:
    if not (PEER / "node_modules" / "@govtechsg" / "oa-verify").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEER, check=True)


def run(rpc_url: str, *, documents: int, seconds: float, concurrency: int = 16) -> dict[str, Any]:
    """Verifications per second of `documents` distinct OpenAttestation documents, `concurrency` at a time."""
    ensure_peer()
    # Dev key 9: not the key the registry's admin uses (0), so the two never share nonces.
    command = ["node", "peer.js", rpc_url, ANVIL_DEV_KEYS[9], str(documents), str(seconds), str(concurrency)]
    done = subprocess.run(command, cwd=PEER, capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"the peer failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
