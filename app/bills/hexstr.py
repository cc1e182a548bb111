"""0x-hex text for bytes and back: how hashes, roots and addresses travel in JSON and in the database."""

from __future__ import annotations


def to_hex(raw: bytes | bytearray) -> str:
    """`b"\\x12\\xab"` → `"0x12ab"`."""
    return "0x" + bytes(raw).hex()


def from_hex(text: str) -> bytes:
    """`"0x12ab"` (or `"12ab"`) → `b"\\x12\\xab"`; ValueError for anything that is not hex."""
    return bytes.fromhex(text[2:] if text[:2] in ("0x", "0X") else text)


ZERO32 = to_hex(bytes(32))
