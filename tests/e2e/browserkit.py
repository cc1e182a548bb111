"""What the browser tests share (a module of its own: `conftest` is a name every test folder has)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appkit import Org
from flask import Flask

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Live:
    """The served app, its URL, and a way to onboard organisations on it."""

    app: Flask
    url: str
    onboard: Callable[[str, str], Org]
