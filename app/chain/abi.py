"""The registry's ABI: the compiled artefact, function selectors, and custom errors decoded by name."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from app.chain.errors import RegistryRevert

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ARTIFACT = Path(".build/BillRegistry.json")
# Ape 0.8 writes every contract type into one manifest; we read BillRegistry out of it when no
# stand-alone artefact exists.
APE_MANIFEST = Path(".build/__local__.json")
CONTRACT_NAME = "BillRegistry"


@lru_cache(maxsize=8)
def load_artifact(path: str | Path | None = None, contract: str = CONTRACT_NAME) -> tuple[list[dict[str, Any]], str]:
    """(abi, deployment bytecode) of BillRegistry (or `contract`, e.g. BillRegistryV2), read once per path.

    Accepts an ethpm ContractType JSON (`.build/BillRegistry.json`) or Ape's package manifest
    (`.build/__local__.json`, which is what ape 0.8 writes). Relative paths are taken from the repo root.
    """
    wanted = Path(path) if path else DEFAULT_ARTIFACT
    # Ape 0.8 writes no stand-alone file, only the manifest beside it: accept that too.
    candidates = [wanted, wanted.parent / APE_MANIFEST.name]
    for candidate in candidates:
        full = candidate if candidate.is_absolute() else REPO_ROOT / candidate
        if full.exists():
            data = json.loads(full.read_text())
            if "contractTypes" in data:
                data = data["contractTypes"][contract]
            bytecode = (data.get("deploymentBytecode") or {}).get("bytecode", "")
            return data["abi"], bytecode
    raise FileNotFoundError(f"no {contract} artefact at {', '.join(map(str, candidates))}: run `make compile`")


def abi_type(param: dict[str, Any]) -> str:
    """The canonical type of an ABI parameter, tuples spelled out (as selectors and topics need)."""
    if param["type"].startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in param["components"]) + ")" + param["type"][5:]
    return str(param["type"])


@lru_cache(maxsize=256)
def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def event_topics(abi: Sequence[dict[str, Any]]) -> dict[bytes, str]:
    """topic0 → event name for every event in the ABI."""
    return {
        keccak(text=f"{e['name']}({','.join(abi_type(i) for i in e['inputs'])})"): e["name"]
        for e in abi
        if e.get("type") == "event"
    }


def _error_table(abi: Sequence[dict[str, Any]]) -> dict[bytes, tuple[str, list[str], list[str]]]:
    """selector → (name, arg names, arg types) for every error in the ABI plus Solidity's built-ins."""
    table: dict[bytes, tuple[str, list[str], list[str]]] = {
        bytes.fromhex("08c379a0"): ("Error", ["message"], ["string"]),
        bytes.fromhex("4e487b71"): ("Panic", ["code"], ["uint256"]),
    }
    for item in abi:
        if item.get("type") != "error":
            continue
        types = [abi_type(i) for i in item["inputs"]]
        table[selector(f"{item['name']}({','.join(types)})")] = (
            item["name"],
            [i["name"] or f"arg{n}" for n, i in enumerate(item["inputs"])],
            types,
        )
    return table


@lru_cache(maxsize=8)
def _error_table_cached(abi_json: str) -> dict[bytes, tuple[str, list[str], list[str]]]:
    return _error_table(json.loads(abi_json))


def _normalise(value: Any, type_: str) -> Any:
    if type_ == "address":
        return to_checksum_address(value)
    return value


def decode_revert(abi: Sequence[dict[str, Any]], data: Any) -> RegistryRevert:
    """Turn revert data (hex) into a RegistryRevert; unknown selectors keep the raw data."""
    if isinstance(data, dict):  # some nodes nest it: {"data": "0x..."} or {"message": ...}
        data = data.get("data") or data.get("result")
    if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
        return RegistryRevert("Revert", {}, data if isinstance(data, str) else None)
    raw = bytes.fromhex(data[2:])
    entry = _error_table_cached(json.dumps(abi, sort_keys=True)).get(raw[:4])
    if entry is None:
        return RegistryRevert("UnknownError", {"selector": raw[:4]}, data)
    name, names, types = entry
    try:
        values = abi_decode(types, raw[4:])
    except Exception:  # malformed payload: still say which error it was
        return RegistryRevert(name, {}, data)
    return RegistryRevert(name, {n: _normalise(v, t) for n, v, t in zip(names, values, types, strict=True)}, data)
