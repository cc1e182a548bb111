"""`/api/v1/bills/<id>/events`: a bill's timeline, from the platform's records and the indexed chain events."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from app.api.auth import require_org
from app.api.schemas import TOKEN_ERRORS, EventsOut, error_responses
from app.extensions import csrf, db
from app.models import Bill, OrgKind
from app.services.errors import not_found
from app.services.timeline import timeline

blp = Blueprint("api_events", __name__, url_prefix="/api/v1/bills", description="Bill lifecycle timelines")
csrf.exempt(blp)


@blp.route("/<bill_id>/events")
@blp.doc(
    security=[{"bearer": []}],
    responses={
        "200": {"description": "The timeline", "content": {"application/json": {"schema": EventsOut}}},
        **error_responses(404, *TOKEN_ERRORS),
    },
)
def get_bill_events(bill_id: str) -> Any:
    """Created, anchored, delivered, verified (a count), claimed or voided, oldest first."""
    org = require_org(OrgKind.ISSUER, OrgKind.CLAIMANT)
    bill = db.session.get(Bill, bill_id)
    if bill is None or (org.kind == OrgKind.ISSUER and bill.organisation_id != org.id):
        raise not_found()  # 404, not 403: other issuers' bill ids stay unconfirmed
    return {"bill_id": bill.id, "status": bill.status, "events": timeline(bill)}
