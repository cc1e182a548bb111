"""Money: fen formatting, Chinese capital numerals (大写) and the line amount rounding rule."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.bills.money import MAX_FEN, fen_to_capital, format_fen, line_amount_fen, parse_yuan

CAPITALS = [
    (0, "零元整"),
    (1, "壹分"),
    (10, "壹角整"),
    (11, "壹角壹分"),
    (100, "壹元整"),
    (105, "壹元零伍分"),
    (150, "壹元伍角整"),
    (1000, "壹拾元整"),
    (1005, "壹拾元零伍分"),
    (10050, "壹佰元伍角整"),
    (12345, "壹佰贰拾叁元肆角伍分"),
    (100100, "壹仟零壹元整"),
    (101000, "壹仟零壹拾元整"),
    (140950, "壹仟肆佰零玖元伍角整"),
    (168032, "壹仟陆佰捌拾元叁角贰分"),
    (1000000, "壹万元整"),
    (1000100, "壹万零壹元整"),
    (1010000, "壹万零壹佰元整"),
    (1100000, "壹万壹仟元整"),
    (10000100, "壹拾万零壹元整"),
    (10700053, "壹拾万柒仟元伍角叁分"),
    (32500001, "叁拾贰万伍仟元零壹分"),
    (100000000, "壹佰万元整"),
    (1000100000, "壹仟万壹仟元整"),
    (1000010000, "壹仟万零壹佰元整"),
    (10000000000, "壹亿元整"),
    (10000000100, "壹亿零壹元整"),
    (10001000000, "壹亿零壹万元整"),
    (10100000000, "壹亿零壹佰万元整"),
    (11000000000, "壹亿壹仟万元整"),
    (100000000000, "壹拾亿元整"),
    (100100000000, "壹拾亿零壹佰万元整"),
    (1000100000000, "壹佰亿零壹佰万元整"),
    (MAX_FEN, "壹佰亿元整"),
    (123456789012, "壹拾贰亿叁仟肆佰伍拾陆万柒仟捌佰玖拾元壹角贰分"),
    (10**14, "壹万亿元整"),
    (100010000000000, "壹万零壹亿元整"),
    (100000001000000, "壹万亿零壹万元整"),
]


@pytest.mark.parametrize(("fen", "expected"), CAPITALS)
def test_fen_to_capital_known_cases(fen: int, expected: str) -> None:
    assert fen_to_capital(fen) == expected


@pytest.mark.parametrize(
    ("fen", "grouped", "plain"),
    [
        (0, "0.00", "0.00"),
        (5, "0.05", "0.05"),
        (123450, "1,234.50", "1234.50"),
        (MAX_FEN, "10,000,000,000.00", "10000000000.00"),
    ],
)
def test_format_fen(fen: int, grouped: str, plain: str) -> None:
    assert format_fen(fen) == grouped
    assert format_fen(fen, grouping=False) == plain


@pytest.mark.parametrize("bad", [-1, 1.5, True, "100"])
def test_money_functions_refuse_non_fen(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        format_fen(bad)  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        fen_to_capital(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("quantity", "price", "amount"),
    [("1", 12345, 12345), ("1.5", 12345, 18518), ("0.5", 1, 1), ("0.4", 1, 0), ("2.5", 3, 8), ("0.000001", 10**6, 1)],
)
def test_line_amount_rounds_half_up(quantity: str, price: int, amount: int) -> None:
    assert line_amount_fen(Decimal(quantity), price) == amount


@pytest.mark.parametrize(("text", "fen"), [("1,234.5", 123450), ("0.01", 1), ("12", 1200), (" 3.00 ", 300)])
def test_parse_yuan(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["", "-1", "1.001", "1e3", "abc", "１２", "1.2.3"])
def test_parse_yuan_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_yuan(text)
