"""`POST /api/v1/verify`: anyone checks a bill file, a QR photo or a verify URL (rate-limited)."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_smorest import Blueprint

from app.api.schemas import VerifyOut, error_responses
from app.extensions import csrf, limiter
from app.services.errors import (
    Invalid,
    Malformed,
)
from app.services.verification import verify_any

blp = Blueprint("api_verify", __name__, url_prefix="/api/v1", description="Public verification")
csrf.exempt(blp)


# A verify URL as printed in the QR code: any base URL, then /v/<bill ref>.<content hash> (base64url, 32 bytes).
_B64URL_32 = r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]"  # canonical: the last character carries 2 bits
VERIFY_URL_PATTERN = rf"^https?://[^/?#\s]+(/[^?#\s]*)?/v/{_B64URL_32}\.{_B64URL_32}$"


def verify_limit() -> str:
    return str(current_app.config["BILLCHAIN_RATELIMIT_VERIFY"])


@blp.route("/verify", methods=["POST"])
@limiter.limit(verify_limit)
@blp.doc(
    requestBody={
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "description": "a bill file (billchain/bill-file/v1)",
                            "not": {"required": ["url"]},
                        },
                        {
                            "type": "object",
                            "properties": {"url": {"type": "string", "pattern": VERIFY_URL_PATTERN}},
                            "required": ["url"],
                            "additionalProperties": False,
                        },
                    ]
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "photo": {
                            "type": "string",
                            "format": "binary",
                            "minLength": 1,
                            "description": "photo of the bill's QR",
                        },
                        "file": {"type": "string", "format": "binary", "minLength": 1, "description": "a bill file"},
                    },
                    "minProperties": 1,
                    "additionalProperties": False,
                }
            },
        },
    },
    responses={
        "200": {"description": "The verdict and every check", "content": {"application/json": {"schema": VerifyOut}}},
        **error_responses(400, 413, 422, 429, 503),
    },
)
def verify_endpoint() -> Any:
    """Verify a bill: authentic / tampered / signature invalid / not anchored / claimed / voided / unknown."""
    source = verify_source_from_request()
    return verify_any(source).to_dict()


def verify_source_from_request() -> Any:
    if request.files:
        upload = request.files.get("photo") or request.files.get("file")
        if upload is None:
            raise Malformed("missing_upload", "Send a 'photo' or a 'file' part.", "photo")
        data = upload.read()
        if not data:
            raise Malformed("empty_upload", "The uploaded file is empty.", upload.name)
        return data
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Malformed("invalid_json", 'Send a bill file, {"url": ...} or a multipart photo.', "body")
    if set(body) == {"url"}:
        if not isinstance(body["url"], str):
            raise Invalid("invalid_verify_url", "url must be a string.", "url")
        return body["url"]
    return body
