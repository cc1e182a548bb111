"""Who is asking, for the API: hashed bearer tokens for hospital, school and insurer systems."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from flask import g, request
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, Organisation, OrgStatus, utcnow
from app.services.errors import NotAllowed, Unauthenticated

LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_organisation() -> Organisation:
    """The organisation behind the request's bearer token.

    The API takes bearer tokens only, never the session cookie: so no cross-site form can act through
    it, and its blueprints can be exempt from CSRF.
    """
    if "api_org" in g:
        return cast(Organisation, g.api_org)
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise Unauthenticated("unauthorised", "Send 'Authorization: Bearer <token>' with an API token.")
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(header[7:].strip())))
    if token is None or token.revoked_at is not None:
        raise Unauthenticated("invalid_token", "The bearer token is unknown or revoked.")
    if OrgStatus(token.organisation.status).revoked:  # every endpoint, reads included, from the moment of revoking
        raise NotAllowed("organisation_revoked", "This organisation has been revoked.")
    now = utcnow()
    # At most one write a minute per token: a write per request queued every API call behind SQLite's
    # write lock (the soak's largest SQL cost); "last used" to the minute is what people look at.
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.session.commit()
    g.api_org = token.organisation
    return token.organisation


def require_org(*kinds: str) -> Organisation:
    """The caller's organisation, which must be active and of one of `kinds`."""
    org = token_organisation()
    if org.kind not in kinds:
        raise NotAllowed("forbidden", f"Only {' or '.join(kinds)} organisations may do this.")
    return org
