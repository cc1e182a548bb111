"""What every template can use: money in yuan and 大写, bill type names, Beijing time, links to the chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask
from flask_babel import get_locale
from flask_login import current_user

from app.bills.money import fen_to_capital, format_fen
from app.bills.times import beijing, parse_utc_iso
from app.runtime import runtime
from app.web import reimbursing
from app.web.i18n import bill_type_label


def init_app(app: Flask) -> None:
    reimbursing.init_app(app)

    @app.template_filter("yuan")
    def yuan_filter(fen: int | None) -> str:
        return format_fen(int(fen or 0))

    @app.template_filter("capital")
    def capital_filter(fen: int | None) -> str:
        return fen_to_capital(int(fen or 0))

    @app.template_filter("beijing")
    def beijing_filter(moment: datetime | str | None) -> str:
        """A datetime, or the UTC ISO 8601 text of documents and status dicts, as Beijing time for people."""
        if isinstance(moment, str):
            if not moment:
                return ""
            try:
                return beijing(parse_utc_iso(moment))
            except ValueError:
                return moment  # not a time we wrote: show it as it is rather than fail the page
        return beijing(moment)

    @app.template_global()
    def bill_type_name(value: str) -> str:
        return bill_type_label(value)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        locale = str(get_locale() or "zh")
        return {
            "current_user": current_user,
            "tx_link": runtime().tx_url,
            "html_lang": "zh-CN" if locale.startswith("zh") else locale,
        }
