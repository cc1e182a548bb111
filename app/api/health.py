"""`GET /api/v1/health`: is the chain reachable, how much waits to be anchored."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from sqlalchemy import func, select

from app.api.schemas import HealthOut, error_responses
from app.bills.errors import ChainUnavailableError
from app.extensions import db
from app.models import Bill, BillStatus, ChainJob, JobStatus
from app.runtime import runtime
from app.services.deadletters import dead_job_count

blp = Blueprint("api_health", __name__, url_prefix="/api/v1", description="Service health")


@blp.route("/health")
@blp.doc(
    responses={
        "200": {"description": "Chain and queue status", "content": {"application/json": {"schema": HealthOut}}},
        **error_responses(429, 503),
    }
)
def health() -> Any:
    """Chain and queue status; 200 even when the chain is down (the body says so)."""
    chain: dict[str, Any]
    try:
        client = runtime().client
        chain = {
            "reachable": True,
            "chain_id": client.chain_id,
            "block": client.block_number(),
            "registry": client.registry_address,
        }
    except ChainUnavailableError as exc:
        chain = {"reachable": False, "message": str(exc)}
    pending = db.session.scalar(select(func.count(Bill.id)).where(Bill.status == BillStatus.PENDING))
    queued = db.session.scalar(
        select(func.count(ChainJob.id)).where(ChainJob.status.in_([JobStatus.QUEUED, JobStatus.SIGNED]))
    )
    return {"chain": chain, "bills_pending": pending, "transactions_in_flight": queued, "dead_jobs": dead_job_count()}
