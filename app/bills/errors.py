"""The domain's exceptions: input problems (4xx for the web layer) apart from chain outages (503)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class BillchainError(Exception):
    """Root of every exception app.bills raises on purpose."""


class BillError(BillchainError):
    """The caller's input is wrong: the web layer answers 400/422, never 500."""


@dataclass(frozen=True)
class FieldError:
    """One broken rule, with a path such as ``items[2].quantity`` so a form can mark the field."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class BillValidationError(BillError, ValueError):
    """All the rules a bill (or bill file) breaks at once, so forms and APIs can show every error."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        if not self.errors:
            raise ValueError("BillValidationError needs at least one FieldError")
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))

    @classmethod
    def single(cls, field: str, message: str) -> BillValidationError:
        return cls([FieldError(field, message)])

    def to_list(self) -> list[dict[str, str]]:
        """JSON-able form for API answers."""
        return [e.to_dict() for e in self.errors]


class VerifyURLError(BillError, ValueError):
    """A verify URL (from a QR code or typed in) is not one this platform prints."""


class QRNotFoundError(BillError):
    """No Billchain QR code could be read from the picture."""


class ChainUnavailableError(BillchainError):
    """The chain node cannot answer now; verification propagates it and the web layer answers 503."""


class OfdError(BillError):
    """An uploaded OFD file is not one Billchain can read: not a zip, missing parts, malformed XML."""


class OfdLimitError(OfdError):
    """An OFD refused before parsing: too many members, too large, zip-bomb ratio, unsafe path or a DTD."""


class SealInvalidError(OfdError):
    """The OFD's SM2 seal does not hold: a sealed part changed, a part is unsealed, or the key is not the one."""


class SealKeyError(BillchainError):
    """An SM2 private key (or its encrypted keystore blob) cannot be used: wrong password, corrupt or not a pair."""


class PhotoTooLargeError(BillError):
    """A picture refused before decoding: more pixels than a QR photo needs (a decompression bomb)."""
