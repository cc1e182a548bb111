"""The OFD rendition of a bill, sealed with its issuer's SM2 key, and the published seal keys.

Each issuing organisation has one SM2 seal key, kept encrypted in the keystore folder beside its chain
key (``seal-<address>.json``); its public half is stored on the organisation and published, so anyone can
check a seal. Onboarding makes it; an organisation onboarded before seals existed gets one on its first
OFD (or through ``flask --app app orgs seal-key CREDIT_CODE``).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app.bills import seal
from app.bills.billfile import BillFile
from app.bills.errors import OfdError, OfdLimitError, SealInvalidError
from app.bills.ofd import MEDIA_TYPE, OfdLimits, read_ofd, render_ofd
from app.bills.qr import render_png
from app.bills.seal import SealKey
from app.bills.verification import Check, CheckName, Verdict, VerificationResult
from app.extensions import db
from app.keys import KeyNotFoundError, KeystoreError
from app.models import Bill, Organisation, OrgKind, audit
from app.runtime import SigningKeyUnavailableError, runtime
from app.services.billfiles import bill_verify_url, domain_bill_file
from app.services.errors import Invalid, NotAllowed, NotFound, TooLarge, Unavailable
from app.services.visibility import BillAccess

FONT_PACKAGE = "fonts-wqy-microhei"
"""The Debian package of the font the OFD names and measures its text with."""

ALGORITHM = "SM2"


@dataclass(frozen=True)
class OfdDocument:
    filename: str
    data: bytes
    media_type: str = MEDIA_TYPE


def ensure_seal_key(org: Organisation, *, commit: bool = True) -> SealKey:
    """The organisation's SM2 seal key: loaded, or made and published now if it has none yet.

    Unavailable (503) when the keystore cannot give it: no password, or the file of a published key is gone.
    """
    if org.kind != OrgKind.ISSUER:
        raise Invalid("invalid_kind", "Only issuing organisations have a seal key.", "organisation")
    rt = runtime()
    try:
        password = rt.keystore_password()
    except SigningKeyUnavailableError as exc:
        raise Unavailable("seal_key_unavailable", str(exc)) from None
    keystore = rt.keystore
    path = keystore.seal_path(org.address)
    try:
        key = keystore.load_seal(org.address, password)
    except KeyNotFoundError:
        if org.seal_public_key:
            raise Unavailable(
                "seal_key_missing",
                f"The SM2 seal key of {org.name} ({path.name}) is missing from BILLCHAIN_KEYSTORE_DIR "
                f"({keystore.directory}): restore it from the backup; its public key is published.",
            ) from None
        try:
            key = keystore.create_seal(org.address, password)
        except FileExistsError:  # another request made it a moment ago
            key = keystore.load_seal(org.address, password)
    except KeystoreError as exc:
        raise Unavailable(
            "seal_key_unavailable", f"The SM2 seal key of {org.name} cannot be unlocked ({exc})."
        ) from None
    if not org.seal_public_key:
        org.seal_public_key = key.public_key_hex
        audit("platform", "organisation.seal_key_published", str(org.id), org.id, public_key=key.public_key_hex)
        if commit:
            db.session.commit()
    elif not seal.same_public_key(org.seal_public_key, key.public_key):
        raise Unavailable(
            "seal_key_mismatch",
            f"{path.name} does not hold the SM2 key {org.name} publishes: the keystore folder is not this platform's.",
        )
    return key


def bill_ofd(access: BillAccess, labels: Mapping[str, str] | None = None) -> OfdDocument:
    """The sealed OFD of a bill for its issuer or payer (it carries the bill file, which only they may have)."""
    if access.masked:
        raise NotAllowed(
            "forbidden",
            "Only the issuer and the payer download the OFD: it carries the bill file with the payer's data.",
        )
    bill = access.bill
    font = current_app.config.get("BILLCHAIN_PDF_FONT")
    if not font or not os.path.exists(font):
        raise Unavailable(
            "ofd_font_missing",
            f"No CJK font to lay out the OFD (BILLCHAIN_PDF_FONT={font!r}); install the Debian package {FONT_PACKAGE}.",
        )
    return OfdDocument(f"bill-{bill.bill_code}-{bill.bill_number}.ofd", render_bill_ofd(bill, labels, font))


def render_bill_ofd(bill: Bill, labels: Mapping[str, str] | None, font: str | None) -> bytes:
    """The OFD bytes of a stored bill, page unmasked (its owners' copy), labels Chinese by default."""
    key = ensure_seal_key(bill.organisation)
    url = bill_verify_url(bill)
    return render_ofd(
        domain_bill_file(bill),
        render_png(url, box_size=8),
        key,
        labels=labels,
        verify_url=url,
        mask_personal_data=False,
        font_path=font,
    )


def organisation_by_address(address: str) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(func.lower(Organisation.address) == address.lower()))


def published_seal_key(credit_code: str) -> dict[str, Any]:
    """What anyone needs to check a seal of this organisation: who, and its SM2 public key."""
    org = db.session.scalar(select(Organisation).where(Organisation.credit_code == credit_code.strip().upper()))
    if org is None or org.kind != OrgKind.ISSUER:
        raise NotFound("organisation_not_found", "No issuing organisation with this credit code.", "credit_code")
    if not org.seal_public_key:
        raise NotFound(
            "seal_key_not_published",
            "This organisation has not published a seal key yet (it gets one with its first OFD bill).",
            "credit_code",
        )
    return {
        "credit_code": org.credit_code,
        "name": org.name,
        "address": org.address,
        "status": org.status,
        "algorithm": ALGORITHM,
        "curve": "sm2p256v1",
        "hash": "SM3",
        "signature_method": seal.OID_SM2_SIGN_WITH_SM3,
        "user_id": seal.SM2_DEFAULT_USER_ID.decode(),
        "public_key": org.seal_public_key,
    }


# ---------------------------------------------------------------- verifying an OFD

OFD_LIMITS = OfdLimits()
"""Bounds for OFD uploads from strangers (about 50× what a bill needs; see app.bills.ofd.OfdLimits)."""


def is_ofd(source: Any) -> bool:
    """An OFD is a zip package: its bytes start with the zip local-file-header magic."""
    return isinstance(source, bytes | bytearray) and bytes(source[:4]) == b"PK\x03\x04"


def verify_sealed_ofd(data: bytes, verify_file: Callable[[BillFile], VerificationResult]) -> VerificationResult:
    """Check the OFD's SM2 seal against the issuer's published key, then ``verify_file`` the bill file inside."""
    try:
        sealed = read_ofd(data, limits=OFD_LIMITS)
    except OfdLimitError as exc:
        raise TooLarge("ofd_too_large", f"The OFD was refused unread: {exc}", "file") from None
    except SealInvalidError as exc:
        return _seal_refused("seal.fail", Verdict.TAMPERED, error=str(exc))
    except OfdError as exc:
        if not _lists_ofd_root(data):
            raise Invalid("invalid_ofd", f"Not an OFD bill: {exc}", "file") from None
        return _seal_refused("seal.damaged", Verdict.TAMPERED, error=str(exc))
    bill_file = sealed.bill_file
    issuer = bill_file.bill.issuer
    org = organisation_by_address(bill_file.signature.signer)
    published = org.seal_public_key if org is not None else None
    key_text = sealed.public_key_hex
    if published and not sealed.sealed_by(published):
        return _seal_refused(
            "seal.wrong_key",
            Verdict.SIGNATURE_INVALID,
            public_key=key_text,
            issuer=issuer.name,
            published_key=published,
        )
    result = verify_file(bill_file)
    if published:
        check = Check(CheckName.SEAL, True, "seal.ok", {"issuer": issuer.name, "public_key": key_text})
        notes = result.notes
    else:  # another platform's bill (or an issuer here without a key): the seal holds, but whose it is stays open
        params = {"public_key": key_text, "credit_code": issuer.credit_code}
        check = Check(CheckName.SEAL, True, "seal.unpublished", params)
        notes = (*result.notes, ("seal.unpublished", params))
    return replace(result, source="ofd", checks=(check, *result.checks), notes=notes)


def _seal_refused(key: str, verdict: Verdict, **params: str) -> VerificationResult:
    check = Check(CheckName.SEAL, False, key, params)
    return VerificationResult(
        verdict=verdict,
        checks=(check,),
        message_key=f"verdict.{verdict.value}",
        message_params={"detail": check.detail},
        source="ofd",
    )


def _lists_ofd_root(data: bytes) -> bool:
    """Whether a zip that failed to read as an OFD still lists OFD.xml: damaged or altered, not another format."""
    if len(data) > OFD_LIMITS.max_archive_bytes:
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "OFD.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
