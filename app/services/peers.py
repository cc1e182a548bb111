"""Other member platforms, as a verifier reaches them: the public proof of a bill named by a QR code.

A QR code carries only the bill's reference and content hash, and the chain holds roots, not leaves, so a
verifier on another platform asks the issuing platform (the QR's host) for the leaf and proof, then checks
them on chain itself: the answer is only trusted as far as the chain confirms it. Only the platforms listed
in BILLCHAIN_MEMBER_PLATFORMS are asked (a QR code must not make this server fetch arbitrary URLs), with a
short timeout and a bounded answer. When the issuing platform cannot be reached the verifier is told so,
and asked for the bill file, which verifies on chain without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app

from app.bills.hexstr import from_hex, to_hex

MAX_ANSWER = 64 * 1024  # a proof of a 2**20-bill batch is ~1.4 KB: anything near this is not a proof
TIMEOUT = 3.0


class PeerUnreachable(Exception):
    """The member platform did not answer, or not with a proof."""


@dataclass(frozen=True)
class PeerProof:
    platform: str
    issuer_id: int
    root: bytes
    proof: tuple[bytes, ...]
    total_fen: int


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower()


def member_platform_for(verify_url: str) -> str | None:
    """The listed member platform (base URL) a verify URL points at; None for this platform or a stranger."""
    origin = _origin(verify_url)
    if origin == _origin(str(current_app.config["BILLCHAIN_BASE_URL"])):
        return None
    for base in str(current_app.config.get("BILLCHAIN_MEMBER_PLATFORMS") or "").split(","):
        if base.strip() and _origin(base) == origin:
            return base.strip().rstrip("/")
    return None


def fetch_proof(platform: str, bill_ref: bytes, content_hash: bytes) -> PeerProof:
    """The issuing platform's proof of (bill_ref, content_hash); PeerUnreachable if it has none to give."""
    url = f"{platform}/api/v1/proofs/{to_hex(bill_ref)}/{to_hex(content_hash)}"
    try:
        with requests.get(url, timeout=TIMEOUT, stream=True, allow_redirects=False) as answer:
            if answer.status_code != 200:
                raise PeerUnreachable(f"HTTP {answer.status_code}")
            body = answer.raw.read(MAX_ANSWER + 1, decode_content=True)
    except requests.RequestException as exc:
        raise PeerUnreachable(type(exc).__name__) from None
    if len(body) > MAX_ANSWER:
        raise PeerUnreachable("answer too large")
    try:
        data: Any = json.loads(body)
        if to_hex(from_hex(data["bill_ref"])) != to_hex(bill_ref) or from_hex(data["content_hash"]) != content_hash:
            raise PeerUnreachable("the proof is for another bill")
        proof = tuple(from_hex(p) for p in data["proof"])
        root = from_hex(data["root"])
        issuer_id, total = int(data["issuer_id"]), int(data["total_fen"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PeerUnreachable(f"not a proof ({type(exc).__name__})") from None
    if len(root) != 32 or any(len(p) != 32 for p in proof) or len(proof) > 64 or not 0 < issuer_id < 2**32:
        raise PeerUnreachable("not a proof")
    return PeerProof(platform, issuer_id, root, proof, total)
