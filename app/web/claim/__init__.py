"""Claimant pages: verify a bill, mark it reimbursed once, list the bills this organisation reimbursed."""

from app.web.claim.routes import bp

__all__ = ["bp"]
