"""Bulk import for issuers: a spreadsheet of bills, validated whole, then issued in the background."""

from app.web.imports.routes import bp

__all__ = ["bp"]
