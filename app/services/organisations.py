"""Organisations: onboarding (key, chain registration, login, token) and revocation."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.bills.admission import AdmissionRequest, sign_admission, sign_rotation
from app.bills.errors import ChainUnavailableError
from app.bills.hexstr import to_hex
from app.bills.identifiers import credit_code_problem
from app.extensions import db
from app.models import (
    ApiToken,
    ChainJob,
    JobKind,
    Organisation,
    OrgKind,
    OrgStatus,
    User,
    audit,
    utcnow,
)
from app.runtime import runtime
from app.services.billfiles import current_registry
from app.services.errors import Conflict, Invalid, not_found
from app.services.sealing import ensure_seal_key

ADMISSION_VALID_FOR = 30 * 24 * 3600  # seconds an admission request may wait for the finance department


@dataclass
class Onboarded:
    organisation: Organisation
    username: str | None
    password: str | None
    token: str


def onboard_organisation(
    name: str,
    credit_code: str,
    kind: str,
    actor: str,
    username: str | None = None,
    password: str | None = None,
    *,
    register: bool = True,
) -> Onboarded:
    """Make the organisation's key, queue its registration (and funding where gas is paid), add a user and a token.

    `register=False` queues nothing: a member platform without the admin key sends the finance department
    an admission request instead (app/services/admissions.py) and activates the organisation when the
    chain's OrganisationRegistered names its key."""
    if kind not in (OrgKind.ISSUER, OrgKind.CLAIMANT):
        raise Invalid("invalid_kind", "kind must be 'issuer' or 'claimant'.", "kind")
    if not name.strip():
        raise Invalid("invalid_name", "name must not be empty.", "name")
    problem = validate_credit_code(credit_code)
    if problem:
        raise Invalid("invalid_credit_code", problem, "credit_code")
    if db.session.scalar(select(Organisation).where(Organisation.credit_code == credit_code)):
        raise Conflict("organisation_exists", "An organisation with this credit code exists.", "credit_code")

    rt = runtime()
    address = rt.keystore.create(rt.keystore_password())
    org = Organisation(name=name.strip(), credit_code=credit_code, kind=kind, address=address)
    db.session.add(org)
    db.session.flush()
    if kind == OrgKind.ISSUER:
        ensure_seal_key(org, commit=False)  # its SM2 seal key, beside the chain key, published with the org
    if register:
        admin = finance_organisation()
        queue_funding(admin, address, org.id)
        db.session.add(
            ChainJob(
                sender=admin.address, function=JobKind.REGISTER, args=registration_args(org), organisation_id=org.id
            )
        )
    user_password = None
    if username:
        user = User(username=username, organisation=org)
        user_password = password or _random_password()
        user.set_password(user_password)
        db.session.add(user)
    token, plain = ApiToken.issue(org)
    db.session.add(token)
    audit(actor, "organisation.onboarded", str(org.id), org.id, name=org.name, kind=kind, address=address)
    db.session.commit()
    runtime().wake_worker()
    return Onboarded(org, username, user_password, plain)


def revoke_organisation(org: Organisation, actor: str) -> ChainJob:
    """Revoke at once here (status `revoking`: no issuing, claiming, voiding, token or login), then on chain.

    The chain's confirmation turns it `revoked`; until then the app already refuses it everywhere.
    """
    if org.kind == OrgKind.FINANCE:
        raise Invalid("invalid_kind", "The finance department cannot be revoked.", "organisation")
    if OrgStatus(org.status).revoked:
        raise Conflict("organisation_revoked", "This organisation is already revoked.")
    admin = finance_organisation()
    target: Any = org.address
    if current_registry().version == 2:
        if org.chain_org_id is None:
            raise Conflict(
                "organisation_not_admitted", "This organisation is not admitted on chain yet; try again later."
            )
        target = org.chain_org_id  # registry v2 revokes the organisation's stable id (and whatever key it has)
    job = ChainJob(sender=admin.address, function=JobKind.REVOKE, args=[target], organisation_id=org.id)
    db.session.add(job)
    org.status = OrgStatus.REVOKING
    audit(actor, "organisation.revoke_requested", str(org.id), org.id)
    db.session.commit()
    runtime().wake_worker()
    return job


def rotate_key(org: Organisation, actor: str) -> ChainJob:
    """Move an organisation to a new key (registry v2): the new key, made here, accepts (EIP-712) and the
    finance admin sends rotateKey. Once the chain confirms it, the organisation signs and acts with the
    new key; bills signed and anchored under the old one keep verifying as this organisation, and the
    old key can do nothing any more."""
    registry = current_registry()
    if registry.version != 2:
        raise Conflict("registry_v1", "Key rotation needs registry v2; this platform uses v1.")
    if org.kind == OrgKind.FINANCE or org.chain_org_id is None or org.status != OrgStatus.ACTIVE:
        raise Conflict("organisation_not_admitted", "Only an active organisation admitted on chain can rotate its key.")
    rt = runtime()
    new_address = rt.keystore.create(rt.keystore_password())
    deadline = int(time.time()) + ADMISSION_VALID_FOR
    signature = sign_rotation(
        rt.account(new_address),
        chain_id=registry.chain_id,
        registry=registry.address,
        org_id=org.chain_org_id,
        deadline=deadline,
    )
    admin = finance_organisation()
    queue_funding(admin, new_address, org.id)
    job = ChainJob(
        sender=admin.address,
        function=JobKind.ROTATE,
        args=[[org.chain_org_id, new_address, deadline], to_hex(signature)],
        organisation_id=org.id,
    )
    db.session.add(job)
    audit(actor, "organisation.key_rotation_requested", str(org.id), org.id, new_key=new_address)
    db.session.commit()
    rt.wake_worker()
    return job


def revoke_token(token_id: int, actor: str) -> ApiToken:
    """Revoke one API token (a leaked key of one system), leaving the organisation and its other tokens alone."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise not_found("token")
    if token.revoked_at is not None:
        raise Conflict("token_revoked", f"The token {token.prefix}… is already revoked.")
    token.revoked_at = utcnow()
    audit(actor, "token.revoked", str(token.organisation_id), token.organisation_id, prefix=token.prefix)
    db.session.commit()
    return token


def queue_funding(admin: Organisation, address: str, organisation_id: int | None) -> None:
    """On chains where gas is paid, the admin sends a new key its first ether (before anything it signs)."""
    if current_app.config["BILLCHAIN_FUND_WEI"] and _gas_is_paid():
        db.session.add(
            ChainJob(
                sender=admin.address,
                function=JobKind.FUND,
                args=[address, int(current_app.config["BILLCHAIN_FUND_WEI"])],
                organisation_id=organisation_id,
            )
        )


def registration_args(org: Organisation) -> list[Any]:
    """registerOrganisation's arguments. Registry v2 wants the organisation's own key to ask for it (an
    EIP-712 admission request: proof of possession), so the platform signs one with the key it holds."""
    registry = current_registry()
    if registry.version == 1:
        return [org.address, org.name, org.credit_code, int(OrgKind(org.kind).on_chain)]
    return admission_call(admission_request(org))


def admission_request(org: Organisation) -> AdmissionRequest:
    """The organisation's key asks registry v2 to admit it (valid ADMISSION_VALID_FOR seconds)."""
    registry = current_registry()
    if registry.version != 2:
        raise Conflict("registry_v1", "Admission requests are for registry v2; this platform uses v1.")
    return sign_admission(
        runtime().account(org.address),
        chain_id=registry.chain_id,
        registry=registry.address,
        name=org.name,
        credit_code=org.credit_code,
        kind=str(org.kind),
        deadline=int(time.time()) + ADMISSION_VALID_FOR,
    )


def admission_call(request: AdmissionRequest) -> list[Any]:
    """registerOrganisation(request, signature) as outbox JSON."""
    struct, signature = request.as_call()
    return [list(struct), to_hex(signature)]


def validate_credit_code(code: str) -> str | None:
    """None if `code` is a valid unified social credit code, else what is wrong (the domain's rule)."""
    return credit_code_problem(code.strip().upper())


def finance_organisation() -> Organisation:
    org = db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.FINANCE))
    if org is None:
        raise Conflict("no_finance_admin", "No finance department is set up: run `flask --app app orgs init-finance`.")
    return org


def _gas_is_paid() -> bool:
    try:
        return runtime().client.gas_is_paid()
    except ChainUnavailableError:
        return False


def _random_password() -> str:
    return secrets.token_urlsafe(12)
