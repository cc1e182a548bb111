"""`/dev/outbox`: what the platform "sent" (bill deliveries, wallet codes) while developing; 404 in production."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from app.bills.times import beijing
from app.services.delivery import dev_outbox

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.route("/outbox")
def outbox() -> str:
    box = dev_outbox()
    if box is None:  # BILLCHAIN_DEV_OUTBOX is off: this page does not exist
        abort(404)
    return render_template("dev/outbox.html", entries=box.entries(), beijing=beijing)
