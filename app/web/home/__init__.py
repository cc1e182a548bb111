"""The home page."""

from app.web.home.routes import bp

__all__ = ["bp"]
