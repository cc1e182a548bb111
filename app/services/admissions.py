"""Admission across member platforms (registry v2): a platform asks, the finance department admits.

The member platform makes the organisation's key and a request signed by it (proof of possession); the
request travels as a file or through the API to the finance department's platform, which lists it and,
once approved, registers it on chain with that signature. The member platform learns of it from the
chain's OrganisationRegistered event (app/outbox/projection.py) and activates the organisation; the two
platforms share nothing else.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.bills.admission import AdmissionRequest
from app.bills.times import utc_iso
from app.chain.registry_v2 import RegistryV2Client
from app.extensions import db
from app.models import AdmissionRecord, AdmissionStatus, ChainJob, JobKind, audit, utcnow
from app.runtime import runtime
from app.services.billfiles import current_registry
from app.services.errors import Conflict, Invalid, not_found
from app.services.organisations import (
    Onboarded,
    admission_call,
    admission_request,
    finance_organisation,
    onboard_organisation,
    queue_funding,
)


def request_admission(
    name: str, credit_code: str, kind: str, actor: str, username: str | None = None, password: str | None = None
) -> tuple[Onboarded, AdmissionRequest]:
    """On a member platform: the organisation, its key, login and token, and the signed request to send."""
    done = onboard_organisation(name, credit_code, kind, actor, username, password, register=False)
    request = admission_request(done.organisation)
    audit(actor, "organisation.admission_requested", str(done.organisation.id), done.organisation.id)
    db.session.commit()
    return done, request


def receive_admission(data: Any, actor: str) -> AdmissionRecord:
    """On the finance department's platform: check a request (format, signature, registry, expiry, the
    chain's own records) and keep it pending. Each problem names its field."""
    request = AdmissionRequest.from_dict(data)  # BillValidationError names every bad field
    registry = current_registry()
    if (request.chain_id, request.registry.lower()) != (registry.chain_id, registry.address.lower()):
        raise Invalid(
            "wrong_registry",
            f"The request is for registry {request.registry} on chain {request.chain_id}; this platform's "
            f"is {registry.address} on chain {registry.chain_id}.",
            "registry",
        )
    if request.deadline <= time.time():
        raise Invalid("request_expired", "The request's deadline has passed: ask for a new one.", "deadline")
    client = runtime().client
    if isinstance(client, RegistryV2Client):
        taken = client.org_id_of(request.credit_code)
        if taken:
            raise Conflict(
                "credit_code_taken", f"This credit code is organisation #{taken} on chain.", "credit_code", org_id=taken
            )
        if client.key_record(request.account).org_id:
            raise Conflict("key_taken", "This key is already admitted on chain.", "account")
    record = AdmissionRecord(
        account=request.account,
        name=request.name,
        credit_code=request.credit_code,
        kind=request.kind,
        request=request.to_dict(),
    )
    db.session.add(record)
    try:
        audit(actor, "admission.received", request.account, None, name=request.name, kind=request.kind)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("admission_exists", "A request for this key was received already.", "account") from None
    return record


def approve_admission(record_id: int, actor: str) -> ChainJob:
    """Register the requesting organisation on chain with its own signed request."""
    record = _pending(record_id)
    request = AdmissionRequest.from_dict(record.request)
    if request.deadline <= time.time():
        raise Conflict("request_expired", "The request's deadline has passed: ask for a new one.")
    admin = finance_organisation()
    queue_funding(admin, request.account, None)
    job = ChainJob(sender=admin.address, function=JobKind.REGISTER, args=admission_call(request))
    db.session.add(job)
    db.session.flush()
    record.status = AdmissionStatus.APPROVED
    record.decided_at = utcnow()
    record.decided_by = actor
    record.job_id = job.id
    audit(actor, "admission.approved", request.account, None, job=job.id)
    db.session.commit()
    runtime().wake_worker()
    return job


def refuse_admission(record_id: int, actor: str) -> AdmissionRecord:
    record = _pending(record_id)
    record.status = AdmissionStatus.REFUSED
    record.decided_at = utcnow()
    record.decided_by = actor
    audit(actor, "admission.refused", record.account, None)
    db.session.commit()
    return record


def _pending(record_id: int) -> AdmissionRecord:
    """A request not decided yet; ids beyond a database integer are simply not found (not an overflow)."""
    record = db.session.get(AdmissionRecord, record_id) if 0 < record_id < 2**31 else None
    if record is None:
        raise not_found("admission request")
    if record.status != AdmissionStatus.PENDING:
        raise Conflict("admission_decided", f"This request was {record.status} already: nothing to decide.")
    return record


def admissions(status: str | None = None) -> list[AdmissionRecord]:
    query = select(AdmissionRecord).order_by(AdmissionRecord.received_at.desc())
    if status:
        query = query.where(AdmissionRecord.status == status)
    return list(db.session.scalars(query))


def admission_dict(record: AdmissionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "account": record.account,
        "name": record.name,
        "credit_code": record.credit_code,
        "kind": record.kind,
        "status": record.status,
        "received_at": utc_iso(record.received_at),
        "decided_at": utc_iso(record.decided_at),
        "job_id": record.job_id,
    }
