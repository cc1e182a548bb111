"""What others may see of a payer: masked ID numbers, phones, e-mails and names; the bill as printed."""

from __future__ import annotations

from typing import Any


def mask_id_number(id_number: str) -> str:
    """110101199003071234 → 1101**********1234: enough to tell two people apart, not to impersonate."""
    n = len(id_number)
    keep = 4 if n >= 12 else 1 if n >= 4 else 0
    if keep == 0:
        return "*" * n
    return id_number[:keep] + "*" * (n - 2 * keep) + id_number[-keep:]


def mask_phone(phone: str) -> str:
    """13812345678 → 138****5678."""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_email(email: str) -> str:
    """zhang.san@example.cn → z***@example.cn."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳小明 → 欧**明: for lists shown to third parties."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def printed_document(document: dict[str, Any]) -> dict[str, Any]:
    """The bill as printed (a stored bill document): payer ID masked, contact details and salt left out."""
    data = {k: v for k, v in document.items() if k not in ("salt", "contact")}
    payer = dict(data.get("payer") or {})
    if payer.get("id_number"):
        payer["id_number"] = mask_id_number(payer["id_number"])
    data["payer"] = payer
    return data
