"""The one place where failures become HTTP: JSON for programs, a page for people.

Services raise app.services.errors kinds (no statuses); `STATUS` maps each kind once.

Bodies are `{"error": code, "message": text, "field": path-or-null}` (plus `errors` for several
fields); the chain or the database being down is 503 with Retry-After, never a bare 500.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from app.bills.errors import (
    BillValidationError,
    ChainUnavailableError,
    PhotoTooLargeError,
    QRNotFoundError,
    VerifyURLError,
)
from app.extensions import db
from app.runtime import SigningKeyUnavailableError
from app.services.errors import (
    Conflict,
    Invalid,
    Malformed,
    NotAllowed,
    NotFound,
    ServiceError,
    TooLarge,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)


# The one table from service errors to HTTP statuses.
STATUS: dict[type[ServiceError], int] = {
    Malformed: 400,
    Unauthenticated: 401,
    NotAllowed: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    Invalid: 422,
    Unavailable: 503,
}


class Answer:
    """An error as the client sees it: the JSON body `{error, message, field, **extra}` or the error page."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None, **extra: Any) -> None:
        self.status = status
        self.error = error
        self.message = message
        self.field = field
        self.extra = extra


def status_of(err: ServiceError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(err, kind)), 400)


def answer_for(err: ServiceError) -> Answer:
    return Answer(status_of(err), err.code, err.message, err.field, **err.facts)


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def respond(err: Answer) -> Response | tuple[str, int, dict[str, str]]:
    headers: dict[str, str] = {}
    if err.status == 503:
        headers["Retry-After"] = str(err.extra.get("retry_after", 5))
    if wants_json():
        body = {"error": err.error, "message": err.message, "field": err.field, **err.extra}
        response = jsonify(body)
        response.status_code = err.status
        response.headers.update(headers)
        return response
    page = render_template("error.html", error=err), err.status, headers
    return page


def init_app(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(err: ServiceError) -> Any:
        return respond(answer_for(err))

    @app.errorhandler(BillValidationError)
    def _validation(err: BillValidationError) -> Any:
        first = err.errors[0]
        return respond(
            Answer(422, "invalid_bill", f"{first.field}: {first.message}", first.field, errors=err.to_list())
        )

    @app.errorhandler(VerifyURLError)
    def _bad_url(err: VerifyURLError) -> Any:
        return respond(Answer(400, "invalid_verify_url", str(err), "url"))

    @app.errorhandler(QRNotFoundError)
    def _no_qr(err: QRNotFoundError) -> Any:
        return respond(Answer(422, "qr_not_found", str(err), "photo"))

    @app.errorhandler(PhotoTooLargeError)
    def _photo_too_large(err: PhotoTooLargeError) -> Any:
        return respond(Answer(413, "photo_too_large", str(err), "photo"))

    @app.errorhandler(ChainUnavailableError)
    def _chain_down(err: ChainUnavailableError) -> Any:
        log.warning("chain unavailable: %s", err)
        return respond(
            Answer(
                503,
                "chain_unavailable",
                f"The blockchain node cannot be reached right now ({err}). Nothing was lost; try again shortly.",
                retry_after=5,
            )
        )

    @app.errorhandler(SigningKeyUnavailableError)
    def _key_unavailable(err: SigningKeyUnavailableError) -> Any:
        log.error("signing key unavailable: %s", err)
        db.session.rollback()
        return respond(Answer(503, "signing_key_unavailable", f"Nothing was issued or sent: {err}.", retry_after=60))

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeoutError)
    def _database_down(err: Exception) -> Any:
        log.error("database unavailable: %s", err)
        db.session.rollback()
        return respond(
            Answer(503, "database_unavailable", "The database cannot be reached right now; try again shortly.")
        )

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Any:
        status = err.code or 500
        field = None
        extra: dict[str, Any] = {}
        messages = getattr(err, "data", {}).get("messages") if hasattr(err, "data") else None
        if messages:  # webargs/marshmallow validation from flask-smorest
            flat = _flatten(messages)
            field = flat[0]["field"] if flat else None
            extra["errors"] = flat
            message = f"{flat[0]['field']}: {flat[0]['message']}" if flat else "invalid request"
        else:
            message = err.description or err.name
        code = {429: "rate_limited", 413: "too_large"}.get(status, (err.name or "error").lower().replace(" ", "_"))
        return respond(Answer(status, code, message, field, **extra))

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Any:
        incident = uuid.uuid4().hex[:12]
        log.exception("unexpected error, incident %s", incident)
        db.session.rollback()
        return respond(
            Answer(
                500,
                "internal_error",
                f"Something went wrong on our side (incident {incident}); nothing you sent was lost.",
                incident=incident,
            )
        )


def _flatten(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """webargs nests errors by location and field; flatten to [{field, message}]."""
    out: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key in ("json", "form", "query", "files", "headers") and not prefix:
                out.extend(_flatten(value, ""))
            else:
                path = (
                    f"{prefix}.{key}"
                    if prefix and not str(key).isdigit()
                    else (f"{prefix}[{key}]" if prefix else str(key))
                )
                out.extend(_flatten(value, path))
    elif isinstance(messages, list):
        if all(isinstance(m, str) for m in messages):
            out.append({"field": prefix or "body", "message": " ".join(messages)})
        else:
            for item in messages:
                out.extend(_flatten(item, prefix))
    else:
        out.append({"field": prefix or "body", "message": str(messages)})
    return out
