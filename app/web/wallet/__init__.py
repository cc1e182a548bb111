"""The payer wallet: a payer proves who they are with a one-time code and sees all their bills."""

from app.web.wallet.routes import bp

__all__ = ["bp"]
