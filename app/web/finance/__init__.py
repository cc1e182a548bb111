"""The finance department's dashboard, reconciliation against the chain and CSV export."""

from app.web.finance.routes import bp

__all__ = ["bp"]
