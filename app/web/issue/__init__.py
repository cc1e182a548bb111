"""Issuer pages: the bill form, the organisation's bill list, voiding, and the printable bill page."""

from app.web.issue.routes import bp

__all__ = ["bp"]
