"""The finance department's dashboard, reconciliation against the chain and CSV export."""

from app.finance.routes import bp

__all__ = ["bp"]
