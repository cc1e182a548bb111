"""Development tools in the app: the outbox of texts and e-mails "sent" (BILLCHAIN_DEV_OUTBOX only)."""

from app.web.dev.routes import bp

__all__ = ["bp"]
