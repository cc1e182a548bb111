"""One answer to "is this bill genuine?", from a bill file, a QR photo or a verify URL.

Checks run offline first (rules, bill_ref, content hash, signature, domain, Merkle proof), so a forged
or altered file is caught without the chain, then the chain is asked once for the bill's record and
once or twice for organisations. ChainUnavailableError from the reader propagates untouched.

Definitions: ``authentic`` means a genuine bill that is still valid (verdict AUTHENTIC or CLAIMED);
``usable_for_reimbursement`` means authentic and not claimed yet (AUTHENTIC only). A voided bill was
genuine once but is neither. An issuer revoked *after* anchoring leaves its bills AUTHENTIC with a
note; revoked *before* (anchored_at > revoked_at; the registry refuses that, so it means a broken or
forged chain view) gives ISSUER_REVOKED.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol, cast

from eth_utils import to_checksum_address

from app.bills.billfile import BillFile
from app.bills.chainview import ChainBillRecord, ChainOrganisation, ChainReader, ChainStatus
from app.bills.chainview_v2 import ChainBillRecordV2, ChainOrganisationV2, ChainReaderV2, ChainStatusV2
from app.bills.errors import BillError, BillValidationError, QRNotFoundError, VerifyURLError
from app.bills.hashing import content_hash, recover_digest_signer
from app.bills.merkle import verify_proof
from app.bills.messages import render
from app.bills.model import Bill, derive_bill_ref
from app.bills.money import fen_to_capital, format_fen
from app.bills.qr import decode_image, parse_verify_url

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    """Checksumming hashes the address; the registry and a few issuers come again and again."""
    return str(to_checksum_address(address))


@lru_cache(maxsize=65_536)
def _recover(digest: bytes, signature: bytes) -> str | None:
    """Signature recovery is a pure function of its inputs: a bill verified again costs nothing here."""
    return recover_digest_signer(digest, signature)


class BillLookup(Protocol):
    """The platform's own records (the app's database), for QR/URL verification and pending bills."""

    def find_bill_file(self, bill_ref: bytes, content_hash: bytes) -> BillFile | None: ...

    def has_bill_ref(self, bill_ref: bytes) -> bool: ...


class Verdict(StrEnum):
    AUTHENTIC = "authentic"
    TAMPERED = "tampered"
    SIGNATURE_INVALID = "signature_invalid"
    NOT_ANCHORED = "not_anchored"
    UNKNOWN = "unknown"
    CLAIMED = "claimed"
    PAPER = "paper"  # registry v2: converted to paper; the paper bill is the instrument
    VOIDED = "voided"
    ISSUER_REVOKED = "issuer_revoked"


class CheckName(StrEnum):
    """The checks in the order they run; a TAMPERED/SIGNATURE_INVALID result names the one that failed."""

    SEAL = "seal"  # an OFD's SM2 seal, checked before the bill file inside it
    BILL_RULES = "bill_rules"
    BILL_REF = "bill_ref"
    CONTENT_HASH = "content_hash"
    SIGNATURE = "signature"
    DOMAIN = "domain"
    PLATFORM = "platform"
    PROOF = "proof"
    ANCHORED = "anchored"
    ISSUER_MATCH = "issuer_match"
    ISSUER_IDENTITY = "issuer_identity"
    ISSUER_STANDING = "issuer_standing"
    STATUS = "status"


@dataclass(frozen=True)
class Check:
    """One check's outcome; ``key`` + ``params`` pick its sentence in messages.EN."""

    name: CheckName
    passed: bool
    key: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def detail(self) -> str:
        return render(self.key, self.params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name.value,
            "passed": self.passed,
            "detail": self.detail,
            "message_key": self.key,
            "params": dict(self.params),
        }


@dataclass(frozen=True)
class AnchoringInfo:
    """Where the bill is anchored; ``anchored_at`` is the chain's time, tx/block are the platform's."""

    chain_id: int
    registry: str
    root: bytes
    proof: tuple[bytes, ...]
    tx_hash: bytes | None
    block_number: int | None
    anchored_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "registry": self.registry,
            "root": "0x" + self.root.hex(),
            "proof": ["0x" + p.hex() for p in self.proof],
            "tx_hash": "0x" + self.tx_hash.hex() if self.tx_hash else None,
            "block_number": self.block_number,
            "anchored_at": _iso(self.anchored_at),
        }


@dataclass(frozen=True)
class ReimbursedPart:
    """One claim part as the registry's BillClaimed event recorded it."""

    by: str  # the reimbursing unit's name (or "#id")
    amount_fen: int
    at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "amount_fen": self.amount_fen, "at": _iso(self.at)}


@dataclass(frozen=True)
class Reimbursement:
    """Registry v2's money facts about a bill, as its `verify` answers them (names where the chain has them);
    `parts` from the registry's events, where the verifying platform has indexed them."""

    total_fen: int
    reimbursed_fen: int
    remaining_fen: int
    lock_holder: str | None  # a live review lock's holder (name, else "#id"), None if none is live
    locked_until: datetime | None
    paper_number: str | None
    replacement_ref: bytes | None
    parts: tuple[ReimbursedPart, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_fen": self.total_fen,
            "reimbursed_fen": self.reimbursed_fen,
            "remaining_fen": self.remaining_fen,
            "lock": None if self.lock_holder is None else {"by": self.lock_holder, "until": _iso(self.locked_until)},
            "paper_number": self.paper_number,
            "replacement_ref": "0x" + self.replacement_ref.hex() if self.replacement_ref else None,
            "parts": [p.to_dict() for p in self.parts],
        }


@dataclass(frozen=True)
class VerificationResult:
    """Everything a page or an API shows about one verification."""

    verdict: Verdict
    checks: tuple[Check, ...]
    message_key: str
    message_params: Mapping[str, str]
    source: str
    bill: Bill | None = None
    bill_ref: bytes | None = None
    content_hash: bytes | None = None
    signer: str | None = None
    issuer: ChainOrganisation | None = None
    anchoring: AnchoringInfo | None = None
    issuer_revoked_at: datetime | None = None
    settled_by: str | None = None
    settled_by_name: str | None = None
    settled_at: datetime | None = None
    notes: tuple[tuple[str, Mapping[str, str]], ...] = ()
    as_of_block: int | None = None  # the chain state the answer speaks for (None: the chain was not asked)
    reimbursement: Reimbursement | None = None  # registry v2 only

    @property
    def authentic(self) -> bool:
        """A genuine bill that still stands (claimed bills and bills converted to paper included)."""
        return self.verdict in (Verdict.AUTHENTIC, Verdict.CLAIMED, Verdict.PAPER)

    @property
    def usable_for_reimbursement(self) -> bool:
        return self.verdict is Verdict.AUTHENTIC

    @property
    def failed_check(self) -> CheckName | None:
        return next((c.name for c in self.checks if not c.passed), None)

    @property
    def message(self) -> str:
        return render(self.message_key, self.message_params)

    @property
    def note_messages(self) -> list[str]:
        return [render(key, params) for key, params in self.notes]

    def to_dict(self) -> dict[str, Any]:
        """JSON for programs. The bill is masked: whoever scans a QR code must not learn ID numbers.

        Built once per result (a result never changes); each call gets its own top-level copy."""
        built = self.__dict__.get("_as_dict")
        if built is None:
            built = self.__dict__["_as_dict"] = self._build_dict()  # frozen: set past __setattr__
        return dict(built)

    def _build_dict(self) -> dict[str, Any]:
        issuer = self.issuer
        return {
            "verdict": self.verdict.value,
            "authentic": self.authentic,
            "usable_for_reimbursement": self.usable_for_reimbursement,
            "message": self.message,
            "message_key": self.message_key,
            "notes": self.note_messages,
            "source": self.source,
            "failed_check": self.failed_check.value if self.failed_check else None,
            "checks": [c.to_dict() for c in self.checks],
            "bill": self.bill.to_display_dict() if self.bill else None,
            "bill_ref": "0x" + self.bill_ref.hex() if self.bill_ref else None,
            "content_hash": "0x" + self.content_hash.hex() if self.content_hash else None,
            "signer": self.signer,
            "issuer": None
            if issuer is None
            else {
                "address": issuer.address,
                "name": issuer.name,
                "credit_code": issuer.credit_code,
                "kind": issuer.kind,
                "registered_at": _iso(issuer.registered_at),
                "revoked_at": _iso(issuer.revoked_at),
            },
            "anchoring": self.anchoring.to_dict() if self.anchoring else None,
            "as_of_block": self.as_of_block,
            "reimbursement": self.reimbursement.to_dict() if self.reimbursement else None,
            "issuer_revoked_at": _iso(self.issuer_revoked_at),
            "settlement": None
            if self.settled_by is None
            else {
                "status": self.verdict.value,
                "by": self.settled_by,
                "by_name": self.settled_by_name,
                "at": _iso(self.settled_at),
            },
        }


VerifySource = BillFile | Mapping[str, Any] | str | bytes


def verify(source: VerifySource, chain: ChainReader, lookup: BillLookup | None = None) -> VerificationResult:
    """Verify a bill file (object, dict or JSON), a verify URL, or a photo of the bill's QR code.

    Raises BillError for input that is none of these (malformed file: BillValidationError; bad URL:
    VerifyURLError; no QR in the photo: QRNotFoundError); URL and photo need ``lookup``.
    """
    if isinstance(source, BillFile):
        return _Verifier(chain, lookup, "file").run_file(source)
    if isinstance(source, Mapping):
        return _verify_file_data(source, chain, lookup)
    if isinstance(source, str):
        text = source.strip()
        if text.startswith("{"):
            return _verify_file_data(_json(text), chain, lookup)
        return _verify_url(text, chain, lookup, "url")
    if isinstance(source, bytes | bytearray):
        if bytes(source).lstrip()[:1] == b"{":
            return _verify_file_data(_json(bytes(source)), chain, lookup)
        return _verify_image(bytes(source), chain, lookup)
    raise TypeError(f"cannot verify a {type(source).__name__}")


def verify_leaf(
    chain: ChainReaderV2,
    *,
    issuer_id: int,
    root: bytes,
    proof: Sequence[bytes],
    bill_ref: bytes,
    content_hash: bytes,
    total_fen: int,
    platform: str,
    source: str = "url",
) -> VerificationResult:
    """A bill known here only by its leaf and proof (served by `platform`, the issuing member platform)."""
    return _Verifier(chain, None, source).run_leaf(issuer_id, root, proof, bill_ref, content_hash, total_fen, platform)


def format_result(result: VerificationResult) -> str:
    """A plain-text report for people (CLI, logs, e-mail)."""
    lines = [f"{result.verdict.value.upper()}: {result.message}"]
    lines += [f"Note: {note}" for note in result.note_messages]
    bill = result.bill
    if bill is not None:
        lines.append(
            f"Bill {bill.bill_code} {bill.bill_number} (check code {bill.check_code}, {bill.bill_type.value}),"
            f" issued {_iso(bill.issued_at)} by {bill.issuer.name} ({bill.issuer.credit_code})"
        )
        lines.append(f"Payer: {bill.payer.name}")
        lines.append(f"Total: ¥{format_fen(bill.total_fen)} ({fen_to_capital(bill.total_fen)})")
    if result.anchoring is not None:
        a = result.anchoring
        lines.append(
            f"Anchored on chain {a.chain_id} (registry {a.registry}) at {_iso(a.anchored_at) or 'unknown time'},"
            f" root 0x{a.root.hex()}"
        )
    if result.settled_by is not None:
        lines.append(f"Settled by {result.settled_by_name or result.settled_by} at {_iso(result.settled_at)}")
    money = result.reimbursement
    if money is not None:
        lines.append(
            f"Reimbursed ¥{format_fen(money.reimbursed_fen)} of ¥{format_fen(money.total_fen)},"
            f" ¥{format_fen(money.remaining_fen)} remain"
        )
        lines += [f"  part: ¥{format_fen(p.amount_fen)} by {p.by} at {_iso(p.at)}" for p in money.parts]
        if money.lock_holder is not None:
            lines.append(f"Under review by {money.lock_holder} until {_iso(money.locked_until)}")
        if money.paper_number:
            lines.append(f"Converted to paper bill {money.paper_number}")
        if money.replacement_ref:
            lines.append(f"Replaced by bill 0x{money.replacement_ref.hex()}")
    lines.append("Checks:")
    lines += [f"  [{'ok' if c.passed else 'FAILED'}] {c.name.value}: {c.detail}" for c in result.checks]
    return "\n".join(lines)


# ---------------------------------------------------------------- sources


def _json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BillValidationError.single("$", f"is not JSON: {exc}") from None


def _verify_file_data(data: Any, chain: ChainReader, lookup: BillLookup | None) -> VerificationResult:
    try:
        bill_file = BillFile.from_dict(data)
    except BillValidationError as exc:
        if all(e.field.startswith("bill.") for e in exc.errors):
            # A well-formed file whose bill breaks its own rules can only be an altered one.
            errors = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
            check = Check(CheckName.BILL_RULES, False, "bill_rules.fail", {"errors": errors})
            return _result(Verdict.TAMPERED, [check], "file", detail=check.detail)
        raise
    return _Verifier(chain, lookup, "file").run_file(bill_file)


def _verify_url(url: str, chain: ChainReader, lookup: BillLookup | None, source: str) -> VerificationResult:
    bill_ref, digest = parse_verify_url(url)
    if lookup is None:
        raise ValueError("verifying a URL or QR code needs the platform's records (lookup)")
    found = lookup.find_bill_file(bill_ref, digest)
    if found is not None and (found.bill_ref, found.content_hash) == (bill_ref, digest):
        return _Verifier(chain, lookup, source).run_file(found)
    if lookup.has_bill_ref(bill_ref):
        check = Check(CheckName.CONTENT_HASH, False, "content_hash.fail_platform")
        return _result(Verdict.TAMPERED, [check], source, detail=check.detail, bill_ref=bill_ref, digest=digest)
    check = Check(CheckName.PLATFORM, False, "platform.missing")
    return _result(Verdict.UNKNOWN, [check], source, detail="", bill_ref=bill_ref, digest=digest)


def _verify_image(data: bytes, chain: ChainReader, lookup: BillLookup | None) -> VerificationResult:
    texts = decode_image(data)
    for text in texts:
        try:
            parse_verify_url(text)
        except VerifyURLError:
            continue
        return _verify_url(text, chain, lookup, "image")
    if texts:
        raise QRNotFoundError(f"the QR code in the picture is not a Billchain verify URL: {texts[0][:80]!r}")
    raise QRNotFoundError("no QR code could be read from the picture; try a sharper, closer photo")


# ---------------------------------------------------------------- the checks


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _result(
    verdict: Verdict,
    checks: Sequence[Check],
    source: str,
    *,
    detail: str = "",
    bill_ref: bytes | None = None,
    digest: bytes | None = None,
) -> VerificationResult:
    return VerificationResult(
        verdict=verdict,
        checks=tuple(checks),
        message_key=f"verdict.{verdict.value}",
        message_params={"detail": detail},
        source=source,
        bill_ref=bill_ref,
        content_hash=digest,
    )


class _Verifier:
    """Runs the checks on one bill file, collecting Check entries as it goes."""

    def __init__(self, chain: ChainReader | ChainReaderV2, lookup: BillLookup | None, source: str) -> None:
        self.chain: Any = chain  # a ChainReader (v1) or ChainReaderV2, as the registry it reads
        self.lookup = lookup
        self.source = source
        self.checks: list[Check] = []
        self.base: dict[str, Any] = {"source": source}

    def check(self, name: CheckName, passed: bool, key: str, **params: object) -> bool:
        self.checks.append(Check(name, passed, key, {k: str(v) for k, v in params.items()}))
        return passed

    def done(self, verdict: Verdict, params: Mapping[str, object] | None = None, **extra: Any) -> VerificationResult:
        """The result so far; a failing verdict's message quotes the check that failed."""
        text = {k: str(v) for k, v in (params or {}).items()}
        last = self.checks[-1] if self.checks else None
        if verdict in (Verdict.TAMPERED, Verdict.SIGNATURE_INVALID, Verdict.UNKNOWN):
            text.setdefault("detail", last.detail if last and not last.passed else "")
        return VerificationResult(
            verdict=verdict,
            checks=tuple(self.checks),
            message_key=f"verdict.{verdict.value}",
            message_params=text,
            **{**self.base, **extra},
        )

    def run_file(self, f: BillFile) -> VerificationResult:
        bill, domain, done = f.bill, f.domain, self.done
        self.base = {
            "source": self.source,
            "bill": bill,
            "bill_ref": f.bill_ref,
            "content_hash": f.content_hash,
            "signer": f.signature.signer,
        }
        self.check(CheckName.BILL_RULES, True, "bill_rules.ok")
        ok = f.bill_ref == derive_bill_ref(bill.bill_code, bill.bill_number)
        if not self.check(CheckName.BILL_REF, ok, "bill_ref.ok" if ok else "bill_ref.fail"):
            return done(Verdict.TAMPERED)
        ok = f.content_hash == content_hash(bill, domain)
        if not self.check(CheckName.CONTENT_HASH, ok, "content_hash.ok" if ok else "content_hash.fail"):
            return done(Verdict.TAMPERED)
        signer = f.signature.signer
        # The content hash was just checked equal to the bill's digest: recover from it, not hash again.
        ok = _recover(f.content_hash, f.signature.value) == signer
        if not self.check(CheckName.SIGNATURE, ok, "signature.ok" if ok else "signature.fail", signer=signer):
            return done(Verdict.SIGNATURE_INVALID)
        pick = getattr(self.chain, "reader_for", None)  # a platform that knows several registries
        if pick is not None:
            self.chain = pick(domain.chain_id, domain.verifying_contract) or self.chain
        registry = _checksum(self.chain.registry_address)
        ok = (domain.chain_id, domain.verifying_contract) == (self.chain.chain_id, registry)
        if not self.check(
            CheckName.DOMAIN,
            ok,
            "domain.ok" if ok else "domain.fail",
            chain_id=self.chain.chain_id,
            registry=registry,
            file_chain_id=domain.chain_id,
            file_registry=domain.verifying_contract,
        ):
            return done(Verdict.UNKNOWN)

        anchoring = f.anchoring
        platform_file: BillFile | None = None
        if self.lookup is not None:
            platform_file = self.lookup.find_bill_file(f.bill_ref, f.content_hash)
            if anchoring is None and platform_file is not None:
                anchoring = platform_file.anchoring  # anchored since this file was handed out
        if anchoring is None:
            self.check(CheckName.ANCHORED, False, "anchored.missing")
            if platform_file is not None:
                self.check(CheckName.PLATFORM, True, "platform.found")
                return done(Verdict.NOT_ANCHORED)
            return done(Verdict.UNKNOWN)

        info = AnchoringInfo(
            chain_id=anchoring.chain_id,
            registry=anchoring.registry,
            root=anchoring.root,
            proof=anchoring.proof,
            tx_hash=anchoring.tx_hash,
            block_number=anchoring.block_number,
            anchored_at=None,
        )
        self.base["anchoring"] = info
        v2 = getattr(self.chain, "version", 1) == 2  # registry v2 leaves commit to the bill's total
        total = f.bill.total_fen if v2 else None
        ok = verify_proof(anchoring.root, anchoring.proof, f.bill_ref, f.content_hash, total)
        if not self.check(CheckName.PROOF, ok, "proof.ok" if ok else "proof.fail"):
            return done(Verdict.TAMPERED)
        if v2:
            return self._on_chain_v2(f, info, platform_file)

        record = self.chain.bill_record(anchoring.root, anchoring.proof, f.bill_ref, f.content_hash)
        self.base["as_of_block"] = record.as_of_block
        if record.status is ChainStatus.UNKNOWN:
            self.check(CheckName.ANCHORED, False, "anchored.fail")
            if platform_file is not None:
                self.check(CheckName.PLATFORM, True, "platform.found")
                return done(Verdict.NOT_ANCHORED)
            return done(Verdict.UNKNOWN)
        self.base["anchoring"] = info = _with_time(info, record.anchored_at)
        self.check(CheckName.ANCHORED, True, "anchored.ok", anchored_at=_iso(record.anchored_at))
        return self._on_chain(f, record)

    def _on_chain(self, f: BillFile, record: ChainBillRecord) -> VerificationResult:
        done = self.done
        signer = f.signature.signer
        anchor_issuer = _checksum(record.issuer)
        ok = anchor_issuer == signer
        if not self.check(
            CheckName.ISSUER_MATCH,
            ok,
            "issuer_match.ok" if ok else "issuer_match.fail",
            signer=signer,
            issuer_address=anchor_issuer,
        ):
            return done(Verdict.SIGNATURE_INVALID)

        org = self.chain.organisation(anchor_issuer)
        self.base["issuer"] = org
        self.base["issuer_revoked_at"] = record.issuer_revoked_at
        if org is None:
            self.check(CheckName.ISSUER_IDENTITY, False, "issuer_identity.unregistered", issuer_address=anchor_issuer)
            return done(Verdict.SIGNATURE_INVALID)
        refused = self._identity_and_standing(f, org, record.issuer_revoked_at, record.anchored_at)
        if isinstance(refused, VerificationResult):
            return refused
        notes = tuple(refused)

        settled_name = None
        if record.settled_by is not None and record.status is not ChainStatus.ISSUED:
            settled_org = self.chain.organisation(record.settled_by)
            settled_name = settled_org.name if settled_org else None
        who = settled_name or record.settled_by
        settle = {"settled_by": who, "settled_at": _iso(record.settled_at)}
        extra: dict[str, Any] = {"notes": notes}
        if record.status is not ChainStatus.ISSUED:
            extra |= {
                "settled_by": record.settled_by,
                "settled_by_name": settled_name,
                "settled_at": record.settled_at,
            }
        if record.status is ChainStatus.VOIDED:
            self.check(CheckName.STATUS, True, "status.voided", **settle)
            return done(Verdict.VOIDED, params=settle, **extra)
        if record.status is ChainStatus.CLAIMED:
            self.check(CheckName.STATUS, True, "status.claimed", **settle)
            return done(Verdict.CLAIMED, params=settle, **extra)
        self.check(CheckName.STATUS, True, "status.issued")
        return done(Verdict.AUTHENTIC, params={"issuer": org.name}, **extra)

    def _on_chain_v2(self, f: BillFile, info: AnchoringInfo, platform_file: BillFile | None) -> VerificationResult:
        """Registry v2: the signer's key names its organisation for ever (rotation keeps old bills valid);
        that organisation must have anchored the root, and the record carries the money facts."""
        done, chain = self.done, cast("ChainReaderV2", self.chain)
        signer = f.signature.signer
        key = chain.key_record(signer)
        record = (
            chain.bill_record_v2(key.org_id, info.root, info.proof, f.bill_ref, f.content_hash, f.bill.total_fen)
            if key.org_id
            else None
        )
        if record is None or record.status is ChainStatusV2.UNKNOWN:
            self.check(CheckName.ANCHORED, False, "anchored.fail")
            if platform_file is not None:
                self.check(CheckName.PLATFORM, True, "platform.found")
                return done(Verdict.NOT_ANCHORED)
            return done(Verdict.UNKNOWN)
        self.base["anchoring"] = _with_time(info, record.anchored_at)
        self.check(CheckName.ANCHORED, True, "anchored.ok", anchored_at=_iso(record.anchored_at))
        anchored_by = _checksum(record.anchored_by or ZERO_ADDRESS)
        self.check(CheckName.ISSUER_MATCH, True, "issuer_match.ok", signer=signer, issuer_address=anchored_by)

        found = chain.organisation_v2(record.issuer_id)
        if found is None:
            self.check(CheckName.ISSUER_IDENTITY, False, "issuer_identity.unregistered", issuer_address=anchored_by)
            return done(Verdict.SIGNATURE_INVALID)
        org = _as_chain_organisation(found)
        self.base["issuer"] = org
        self.base["issuer_revoked_at"] = record.issuer_revoked_at
        refused = self._identity_and_standing(f, org, record.issuer_revoked_at, record.anchored_at)
        if isinstance(refused, VerificationResult):
            return refused
        return self._v2_status(record, found, refused)

    def _identity_and_standing(
        self, f: BillFile, org: ChainOrganisation, revoked: datetime | None, anchored: datetime | None
    ) -> VerificationResult | list[tuple[str, Mapping[str, str]]]:
        """The registered issuer is the bill's (credit code), and was not revoked before the anchoring: the
        refusing result, or the notes to carry on with (revoked after the anchoring)."""
        ok = org.credit_code.upper() == f.bill.issuer.credit_code
        if not self.check(
            CheckName.ISSUER_IDENTITY,
            ok,
            "issuer_identity.ok" if ok else "issuer_identity.fail",
            issuer=org.name,
            credit_code=org.credit_code,
            bill_credit_code=f.bill.issuer.credit_code,
        ):
            return self.done(Verdict.SIGNATURE_INVALID)
        times = {"revoked_at": _iso(revoked), "anchored_at": _iso(anchored)}
        if revoked is not None and anchored is not None and anchored > revoked:
            self.check(CheckName.ISSUER_STANDING, False, "issuer_standing.fail", **times)
            return self.done(Verdict.ISSUER_REVOKED, params={"issuer": org.name, **times})
        self.check(CheckName.ISSUER_STANDING, True, "issuer_standing.ok")
        return [("note.revoked_after", {k: str(v) for k, v in times.items()})] if revoked is not None else []

    def run_leaf(
        self,
        issuer_id: int,
        root: bytes,
        proof: Sequence[bytes],
        bill_ref: bytes,
        content_hash: bytes,
        total_fen: int,
        platform: str,
    ) -> VerificationResult:
        """Registry v2, from a leaf and proof alone (a QR code of another member platform's bill, whose
        proof that platform serves): the chain confirms the reference and content hash and says where the
        bill stands; its content is not seen here, so the answer says so."""
        done, chain = self.done, cast("ChainReaderV2", self.chain)
        self.base = {"source": self.source, "bill_ref": bill_ref, "content_hash": content_hash}
        ok = verify_proof(root, proof, bill_ref, content_hash, total_fen)
        if not self.check(CheckName.PROOF, ok, "proof.ok" if ok else "proof.fail"):
            return done(Verdict.TAMPERED)
        record = chain.bill_record_v2(issuer_id, root, proof, bill_ref, content_hash, total_fen)
        if record.status is ChainStatusV2.UNKNOWN:
            self.check(CheckName.ANCHORED, False, "anchored.fail")
            return done(Verdict.UNKNOWN)
        self.check(CheckName.ANCHORED, True, "anchored.ok", anchored_at=_iso(record.anchored_at))
        found = chain.organisation_v2(issuer_id)
        if found is None:
            self.check(
                CheckName.ISSUER_IDENTITY, False, "issuer_identity.unregistered", issuer_address="#" + str(issuer_id)
            )
            return done(Verdict.SIGNATURE_INVALID)
        self.base["issuer"] = _as_chain_organisation(found)
        self.base["issuer_revoked_at"] = record.issuer_revoked_at
        self.check(
            CheckName.ISSUER_IDENTITY, True, "issuer_identity.leaf", issuer=found.name, credit_code=found.credit_code
        )
        return self._v2_status(record, found, [("note.leaf_only", {"platform": platform})])

    def _v2_status(
        self, record: ChainBillRecordV2, found: ChainOrganisationV2, notes: list[tuple[str, Mapping[str, str]]]
    ) -> VerificationResult:
        done, chain = self.done, cast("ChainReaderV2", self.chain)
        org_name = found.name

        def org_of(org_id: int) -> ChainOrganisationV2 | None:
            return (found if org_id == record.issuer_id else chain.organisation_v2(org_id)) if org_id else None

        def name_of(org_id: int) -> str | None:
            other = org_of(org_id)
            return other.name if other else (f"#{org_id}" if org_id else None)

        holder = name_of(record.lock_holder_id) if record.locked else None
        self.base["reimbursement"] = Reimbursement(
            record.total_fen,
            record.reimbursed_fen,
            record.remaining_fen,
            holder,
            record.locked_until if record.locked else None,
            record.paper_number,
            record.replacement_ref,
        )
        settler = org_of(record.last_settled_by)
        settled_name = name_of(record.last_settled_by)
        settle = {"settled_by": settled_name, "settled_at": _iso(record.last_settled_at)}
        extra: dict[str, Any] = {}
        if settler is not None:
            extra = {"settled_by": settler.key, "settled_by_name": settled_name, "settled_at": record.last_settled_at}
        money = {
            "total": format_fen(record.total_fen),
            "reimbursed": format_fen(record.reimbursed_fen),
            "remaining": format_fen(record.remaining_fen),
        }
        if holder is not None:
            notes.append(("note.locked", {"holder": holder, "until": str(_iso(record.locked_until))}))
        status = record.status
        if status is ChainStatusV2.VOIDED:
            if record.replacement_ref:
                notes.append(("note.replaced", {"replacement_ref": "0x" + record.replacement_ref.hex()}))
            self.check(CheckName.STATUS, True, "status.voided", **settle)
            return done(Verdict.VOIDED, params=settle, notes=tuple(notes), **extra)
        if status is ChainStatusV2.REIMBURSED:
            self.check(CheckName.STATUS, True, "status.claimed", **settle)
            return done(Verdict.CLAIMED, params=settle, notes=tuple(notes), **extra)
        if status is ChainStatusV2.CONVERTED_TO_PAPER:
            paper = {**settle, "paper_number": str(record.paper_number)}
            self.check(CheckName.STATUS, True, "status.paper", **paper)
            return done(Verdict.PAPER, params=paper, notes=tuple(notes), **extra)
        if status is ChainStatusV2.PARTLY_REIMBURSED:
            notes.append(("note.partly", {**money, "settled_by": str(settled_name)}))
            self.check(CheckName.STATUS, True, "status.partly", **money)
        else:
            self.check(CheckName.STATUS, True, "status.issued")
        return done(Verdict.AUTHENTIC, params={"issuer": org_name}, notes=tuple(notes), **extra)


def _as_chain_organisation(found: ChainOrganisationV2) -> ChainOrganisation:
    """A v2 organisation as results carry issuers (its current key as the address)."""
    return ChainOrganisation(
        found.key, found.name, found.credit_code, found.kind.label, found.registered_at, found.revoked_at
    )


def _with_time(info: AnchoringInfo, anchored_at: datetime | None) -> AnchoringInfo:
    return AnchoringInfo(
        info.chain_id, info.registry, info.root, info.proof, info.tx_hash, info.block_number, anchored_at
    )


__all__ = [
    "AnchoringInfo",
    "BillError",
    "BillLookup",
    "Check",
    "CheckName",
    "ReimbursedPart",
    "Reimbursement",
    "Verdict",
    "VerificationResult",
    "format_result",
    "verify",
    "verify_leaf",
]
