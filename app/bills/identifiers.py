"""The check characters of Chinese identifiers: GB 32100-2015 credit codes and GB 11643-1999 resident IDs."""

from __future__ import annotations

CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK = "10X98765432"


def credit_code_check_char(first17: str) -> str:
    """The GB 32100-2015 check character of a unified social credit code (weights 3^i mod 31)."""
    total = sum(CREDIT_CODE_CHARS.index(c) * w for c, w in zip(first17, _CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARS[(31 - total % 31) % 31]


def resident_id_check_char(first17: str) -> str:
    """The GB 11643-1999 (ISO 7064 MOD 11-2) check character of an 18-digit resident ID number."""
    total = sum(int(c) * w for c, w in zip(first17, _RESIDENT_ID_WEIGHTS, strict=True))
    return _RESIDENT_ID_CHECK[total % 11]


def credit_code_problem(code: str) -> str | None:
    """None if `code` (upper case, stripped) is a valid unified social credit code, else what is wrong."""
    if len(code) != 18:
        return f"must be 18 characters long (got {len(code)})"
    bad = [c for c in code if c not in CREDIT_CODE_CHARS]
    if bad:
        return f"contains {bad[0]!r}; only digits and letters other than I, O, Z, S, V are used"
    if credit_code_check_char(code[:17]) != code[17]:
        return "check character is wrong (GB 32100-2015): probably a typo"
    return None
