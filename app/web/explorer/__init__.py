"""`/chain/tx/<hash>`: a transaction as the chain reports it, for deployments without an explorer."""

from app.web.explorer.routes import bp

__all__ = ["bp"]
