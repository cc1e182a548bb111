"""Finance department pages: onboard, list and revoke organisations; API tokens."""

from app.web.admin.routes import bp

__all__ = ["bp"]
