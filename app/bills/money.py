"""Money as integer fen (分): line amounts, display with grouping, and Chinese capital numerals (大写).

Floats never touch money: amounts are ``int`` fen, quantities are ``Decimal``. The capital form follows
the PBOC rules for filling in amounts (《正确填写票据和结算凭证的基本规定》): 整 after 元 and after 角,
never after 分; one 零 for any run of zeros inside the integer part and across 万/亿; 零 between 元 and
分 when 角 is zero (壹元零伍分). Where the rules allow either, the optional 零 after a zero 元 digit is
left out (壹拾元伍角整, not 壹拾元零伍角整).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MAX_FEN = 10**12
"""Upper bound for any single amount: 100 亿元, far above any fiscal bill, far below overflow risks."""

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL_UNITS = ("", "拾", "佰", "仟")


def line_amount_fen(quantity: Decimal, unit_price_fen: int) -> int:
    """The rule every line item obeys: amount_fen = round_half_up(quantity × unit_price_fen)."""
    return int((quantity * unit_price_fen).to_integral_value(rounding=ROUND_HALF_UP))


def _check_fen(fen: int) -> None:
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"fen must be an int, not {type(fen).__name__}")
    if fen < 0:
        raise ValueError("fen must not be negative")


def format_fen(fen: int, *, grouping: bool = True) -> str:
    """12345 → "123.45"; 123450 → "1,234.50" (grouping=False drops the commas)."""
    _check_fen(fen)
    yuan, rest = divmod(fen, 100)
    whole = f"{yuan:,}" if grouping else str(yuan)
    return f"{whole}.{rest:02d}"


def parse_yuan(text: str) -> int:
    """Parse "1,234.5" → 123450 fen, for forms; refuses more than two decimals, signs and exponents."""
    cleaned = text.strip().replace(",", "").replace("，", "")
    if not cleaned or not all(c.isdigit() or c == "." for c in cleaned) or not cleaned.isascii():
        raise ValueError(f"not an amount in yuan: {text!r}")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount in yuan: {text!r}") from exc
    fen = value * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"at most two decimals (fen) allowed: {text!r}")
    return int(fen)


def _below_10k(n: int) -> str:
    """Capital digits for 0 < n < 10000 without leading zeros; inner zero runs become one 零."""
    out: list[str] = []
    pending_zero = False
    for pos in range(3, -1, -1):
        digit = n // 10**pos % 10
        if digit == 0:
            pending_zero = bool(out)
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        out.append(_DIGITS[digit] + _SMALL_UNITS[pos])
    return "".join(out)


def _integer_capital(n: int) -> str:
    """Capital numerals for n > 0, recursing on 亿 so 壹万零壹亿 comes out right."""
    if n >= 10**8:
        high, low = divmod(n, 10**8)
        text = _integer_capital(high) + "亿"
        if low:
            text += ("零" if low < 10**7 else "") + _integer_capital(low)
        return text
    high, low = divmod(n, 10**4)
    if not high:
        return _below_10k(low)
    text = _below_10k(high) + "万"
    if low:
        text += ("零" if low < 1000 else "") + _below_10k(low)
    return text


def fen_to_capital(fen: int) -> str:
    """12345 → 壹佰贰拾叁元肆角伍分; 100 → 壹元整; 0 → 零元整; 105 → 壹元零伍分."""
    _check_fen(fen)
    yuan, rest = divmod(fen, 100)
    jiao, fen_digit = divmod(rest, 10)
    if fen == 0:
        return "零元整"
    text = _integer_capital(yuan) + "元" if yuan else ""
    if jiao == 0 and fen_digit == 0:
        return text + "整"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif yuan:
        text += "零"
    if fen_digit:
        return text + _DIGITS[fen_digit] + "分"
    return text + "整"
