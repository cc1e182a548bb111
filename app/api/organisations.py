"""`GET /api/v1/organisations/<credit_code>/seal-key`: the SM2 key anyone checks an OFD bill's seal with (public)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from app.api.schemas import ErrorOut
from app.extensions import csrf
from app.services.sealing import published_seal_key

blp = Blueprint("api_organisations", __name__, url_prefix="/api/v1/organisations", description="Organisations")
csrf.exempt(blp)

ERRORS = {"content": {"application/json": {"schema": ErrorOut}}}


@blp.route("/<credit_code>/seal-key")
@blp.doc(responses={"404": ERRORS})
def get_seal_key(credit_code: str) -> Any:
    """The issuing organisation's published SM2 seal key (04||X||Y hex), with its name and chain address."""
    return published_seal_key(credit_code)
