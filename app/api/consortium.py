"""The consortium's API (registry v2): admission across platforms, public proofs, claims of any member
platform's bill, and relaying for organisations that keep their own key."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import require_org
from app.api.bills import organisation_first
from app.api.schemas import TOKEN_ERRORS, error_responses
from app.extensions import csrf, limiter
from app.models import ChainJob, JobStatus, OrgKind
from app.services import admissions, reimbursement
from app.services.errors import Malformed
from app.services.settlement import wait_for_job

blp = Blueprint("api_consortium", __name__, url_prefix="/api/v1", description="Consortium: admission, proofs, claims")
csrf.exempt(blp)

HEX32 = r"^0x[0-9a-fA-F]{64}$"


def _public_limit() -> str:
    return str(current_app.config["BILLCHAIN_RATELIMIT_VERIFY"])


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Malformed("invalid_json", "Send a JSON object.", "body")
    return body


def _ok(schema_description: str) -> dict[str, Any]:
    return {"description": schema_description, "content": {"application/json": {"schema": {"type": "object"}}}}


# ---------------------------------------------------------------- admission


@blp.route("/admissions", methods=["POST"])
@blp.doc(
    security=[{"bearer": []}],
    requestBody={
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "description": "an admission request file"}}},
    },
    responses={"201": _ok("Received, pending approval"), **error_responses(400, 409, 422, *TOKEN_ERRORS)},
)
def receive_admission() -> Any:
    """The finance department receives a member platform's signed admission request (billchain/admission-request/v1)."""
    finance = require_org(OrgKind.FINANCE)
    return admissions.admission_dict(admissions.receive_admission(_json_body(), actor=f"token:{finance.id}")), 201


@blp.route("/admissions", methods=["GET"])
@blp.doc(security=[{"bearer": []}], responses={"200": _ok("Admission requests"), **error_responses(*TOKEN_ERRORS)})
def list_admissions() -> Any:
    """Admission requests, newest first (`?status=pending|approved|refused`)."""
    require_org(OrgKind.FINANCE)
    status = request.args.get("status")
    if status not in (None, "pending", "approved", "refused"):
        status = "pending"
    return {"admissions": [admissions.admission_dict(r) for r in admissions.admissions(status)]}


@blp.route("/admissions/<int:record_id>/approve", methods=["POST"])
@blp.doc(
    security=[{"bearer": []}], responses={"202": _ok("Registration queued"), **error_responses(404, 409, *TOKEN_ERRORS)}
)
def approve_admission(record_id: int) -> Any:
    """Register the requesting organisation on chain with its own signature; it becomes active on its platform
    when that platform sees OrganisationRegistered."""
    finance = require_org(OrgKind.FINANCE)
    job = admissions.approve_admission(record_id, actor=f"token:{finance.id}")
    return {"status": "queued", "job_id": job.id}, 202


# ---------------------------------------------------------------- proofs for other platforms' verifiers


@blp.route("/proofs/<bill_ref>/<content_hash>")
@limiter.limit(_public_limit)
@blp.doc(
    parameters=[
        {"name": "bill_ref", "in": "path", "required": True, "schema": {"type": "string", "pattern": HEX32}},
        {"name": "content_hash", "in": "path", "required": True, "schema": {"type": "string", "pattern": HEX32}},
    ],
    responses={"200": _ok("The bill's leaf and Merkle proof (no personal data)"), **error_responses(404, 409, 429)},
)
def get_proof(bill_ref: str, content_hash: str) -> Any:
    """Public: the leaf (issuer id, reference, content hash, total) and proof of an anchored bill of this platform,
    so that a member platform can check a QR code of it on chain."""
    return reimbursement.public_proof(bill_ref.lower(), content_hash.lower())


# ---------------------------------------------------------------- claims of any member platform's bill


class FileClaimIn(Schema):
    bill_file = fields.Dict(required=True, metadata={"description": "the bill file (billchain/bill-file/v1)"})
    claim_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    amount_fen = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=2**63 - 1))


class UnsignedClaimIn(FileClaimIn):
    sender = fields.String(
        required=True, validate=validate.Regexp(r"^0x[0-9a-fA-F]{40}$"), metadata={"description": "the signing key"}
    )


class RawTxIn(Schema):
    raw = fields.String(required=True, validate=validate.Length(min=4, max=131_074))


@blp.route("/claims", methods=["POST"])
@organisation_first(OrgKind.CLAIMANT)
@blp.arguments(FileClaimIn)
@blp.doc(
    security=[{"bearer": []}],
    responses={
        "200": _ok("Confirmed on chain"),
        "202": _ok("Queued for the chain"),
        **error_responses(400, 403, 409, 413, 422, *TOKEN_ERRORS),
    },
)
def claim_by_file(body: dict[str, Any]) -> Any:
    """Reimburse a bill of any member platform from its bill file (the payer hands it over): checked here, then
    decided by the chain. 409 names the chain's facts (who reimbursed it and when, the lock, what remains)."""
    claimant = require_org(OrgKind.CLAIMANT)
    leaf = reimbursement.verified_leaf(body["bill_file"])
    job = reimbursement.request_claim(
        leaf, claimant, body["claim_ref"], actor=f"token:{claimant.id}", amount_fen=body.get("amount_fen")
    )
    return _await(job, leaf, claimant.chain_org_id)


def _await(job: ChainJob, leaf: reimbursement.ChainLeaf, acting: int | None) -> Any:
    done = wait_for_job(current_app._get_current_object(), job.id, current_app.config["BILLCHAIN_CLAIM_WAIT"])  # type: ignore[attr-defined]
    if done is None:
        return {"status": "submitted", "job_id": job.id}, 202
    if done.status == JobStatus.FAILED:
        raise reimbursement.answer_for_refused(leaf, acting, done.error)
    record = reimbursement.chain_record(leaf)
    return {"status": "confirmed", "tx_hash": done.tx_hash, **reimbursement.reimbursement_facts(record)}, 200


@blp.route("/calls/claim", methods=["POST"])
@limiter.limit(_public_limit)
@blp.arguments(UnsignedClaimIn)
@blp.doc(responses={"200": _ok("The call to sign: to, data, chain_id, gas"), **error_responses(403, 409, 422, 429)})
def unsigned_claim(body: dict[str, Any]) -> Any:
    """For a reimbursing unit that keeps its key outside every platform: the exact claim call to sign. The
    platform never sees the key; sign it (EIP-1559 or legacy) and send it yourself or to /transactions."""
    return reimbursement.unsigned_claim(body["bill_file"], body["claim_ref"], body["sender"], body.get("amount_fen"))


@blp.route("/transactions", methods=["POST"])
@limiter.limit(_public_limit)
@blp.arguments(RawTxIn)
@blp.doc(responses={"202": _ok("Broadcast"), **error_responses(422, 429, 503)})
def relay(body: dict[str, Any]) -> Any:
    """Broadcast a transaction signed outside the platform (only calls to this platform's registry)."""
    return reimbursement.broadcast(body["raw"]), 202
