"""The one place that writes times as text: UTC ISO 8601 for files and APIs, Beijing time for people."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


def utc_iso(moment: datetime | None) -> str | None:
    """`2026-12-02T21:48:31Z`: whole seconds (block times have no finer grain), None stays None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc_iso(text: str) -> datetime:
    """The inverse of `utc_iso` (also takes `+00:00` offsets and fractions)."""
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("a time without a zone")
    return parsed.astimezone(UTC)


def beijing(moment: datetime | None) -> str:
    """`2026-12-03 05:48:31`: how pages, prints, PDF and OFD show a time to people in China."""
    if moment is None:
        return ""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
