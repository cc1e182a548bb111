"""How a service says no: one small hierarchy, no HTTP in it (the web layer maps each kind once).

Each error carries a stable machine `code` (`bill_already_claimed`), a sentence for people, the
offending `field` where there is one, and the facts behind it (`claimed_by`, `claimed_at`, ...), so an
API client, a page and the CLI can all say exactly what happened.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A refusal given on purpose."""

    def __init__(self, code: str, message: str, field: str | None = None, **facts: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.facts = facts


class Malformed(ServiceError):
    """The request cannot be read at all (not JSON, no file, a hash that is not hex)."""


class Unauthenticated(ServiceError):
    """No credentials, or credentials nobody issued."""


class NotAllowed(ServiceError):
    """The caller is known but may not do this (wrong kind of organisation, revoked, not the owner)."""


class NotFound(ServiceError):
    """No such thing, or none the caller may know of."""


class Conflict(ServiceError):
    """The request is fine but the state forbids it now (already claimed, voided, not anchored yet)."""


class TooLarge(ServiceError):
    """More than one request may carry (bills in a bulk request, rows in a file)."""


class Invalid(ServiceError):
    """The content breaks a rule (the field says which)."""


class Unavailable(ServiceError):
    """A part the service needs is down (chain, keys, font): nothing was done; try again later."""

    def __init__(self, code: str, message: str, field: str | None = None, retry_after: int = 5, **facts: Any) -> None:
        super().__init__(code, message, field, retry_after=retry_after, **facts)


def not_found(what: str = "bill") -> NotFound:
    return NotFound(f"{what}_not_found", f"No such {what}.")
