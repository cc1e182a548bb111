"""The public verify pages behind every QR code: link, photo, file, URL. No login."""

from app.web.verify.routes import bp

__all__ = ["bp"]
