"""The JSON API for hospital and school systems, documented at /api/v1/openapi.json."""

from app.api.bills import blp as bills_blp
from app.api.events import blp as events_blp
from app.api.health import blp as health_blp
from app.api.verify import blp as verify_blp

blueprints = [bills_blp, verify_blp, health_blp, events_blp]
