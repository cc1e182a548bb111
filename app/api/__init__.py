"""The JSON API for hospital and school systems, documented at /api/v1/openapi.json."""

from app.api.bills import blp as bills_blp
from app.api.consortium import blp as consortium_blp
from app.api.events import blp as events_blp
from app.api.health import blp as health_blp
from app.api.organisations import blp as organisations_blp
from app.api.schemas import ErrorOut
from app.api.verify import blp as verify_blp
from app.extensions import openapi

# The default error response in the OpenAPI document is ours ({error, message, field}), not smorest's.
# Set before create_app() binds the Api, which this import always precedes (app/__init__.py imports us).
openapi.ERROR_SCHEMA = ErrorOut

blueprints = [bills_blp, verify_blp, health_blp, events_blp, organisations_blp, consortium_blp]
