"""Targets and the one table (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its figure and pass/miss."""
    g = r["gas"]
    rows = [
        ("anchoring gas ≤ 48,200", g["anchor_single"], 48_200, "le"),
        ("claim gas, 10-level proof (1,000 bills) ≤ 65,000", g["claim_tree_1000"], 65_000, "le"),
        ("anchor gas per bill at 1,000 bills/root ≤ 50", g["anchor_gas_per_bill_1000"], 50, "le"),
    ]
    for db in ("sqlite", "postgresql"):
        e = r["e2e"][db]
        rows.append((f"issuance {db}: ≥ 1,000 bills/s created→anchored", e["issuance"]["bills_per_s"], 1_000, "ge"))
        for kind in ("get_v", "post_verify_file"):
            v = e["verification"][kind]
            rows.append((f"verify {db} {kind}: ≥ 1,000 req/s", v["requests_per_s"], 1_000, "ge"))
            rows.append((f"verify {db} {kind}: p99 ≤ 50 ms", v["p99_ms"], 50, "le"))
    return [
        {"target": name, "value": value, "limit": limit, "pass": value <= limit if op == "le" else value >= limit}
        for name, value, limit, op in rows
    ]


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    g, d = r["gas"], r["domain"]
    big = g["big_tree"]
    out: list[tuple[str, str, str, str]] = [
        ("gas", "deploy", _n(g["deploy"]), "gas"),
        ("gas", "registerOrganisation", _n(g["register_organisation"]), "gas"),
        ("gas", "anchor (single bill)", _n(g["anchor_single"]), "gas"),
    ]
    for n in (10, 100, 1_000):
        out.append(
            (
                "gas",
                f"anchor root of {n:,} bills",
                f"{g[f'anchor_root_{n}']:,} ({g[f'anchor_gas_per_bill_{n}']:,.1f}/bill)",
                "gas",
            )
        )
    for n in (1, 1_000, big):
        out.append(
            (
                "gas",
                f"claim, tree of {n:,} ({g[f'claim_tree_{n}_proof_len']}-level proof)",
                _n(g[f"claim_tree_{n}"]),
                "gas",
            )
        )
    out.append(("gas", "voidBill (tree of 1,000)", _n(g["void"]), "gas"))
    out.append(("domain", f"Merkle build, {big:,} bills", _n(g[f"merkle_build_{big}_s"] * 1e3, 1), "ms"))
    out += [
        ("domain", "Bill.create (validate, check code)", _n(d["bill_create_ms"], 3), "ms median"),
        ("domain", f"EIP-712 hash + signature ({d['hash_sign_bills']} bills)", _n(d["hash_sign_ms"], 3), "ms median"),
        ("domain", "Merkle build, 10,000 bills", _n(d["merkle_10000_ms"], 1), "ms median"),
        ("domain", "QR render SVG", _n(d["qr_svg_ms"], 2), "ms median"),
        ("domain", "QR render PNG", _n(d["qr_png_ms"], 2), "ms median"),
        ("domain", "QR photo decode (JPEG of a page)", _n(d["qr_photo_decode_ms"], 2), "ms median"),
    ]
    for db in ("sqlite", "postgresql"):
        i = r["e2e"][db]["issuance"]
        v = r["e2e"][db]["verification"]
        out += [
            (
                f"issue/{db}",
                f"bills issued ({i['clients']} clients × {i['bills_per_request']}/request)",
                f"{i['bills']:,} in {i['load_s']:.1f} s, {i['errors']} errors",
                "",
            ),
            (f"issue/{db}", "API intake (POST → 201)", _n(i["api_bills_per_s"]), "bills/s"),
            (f"issue/{db}", "sustained, created → all anchored", _n(i["bills_per_s"]), "bills/s"),
            (
                f"issue/{db}",
                "request → anchored p50 / p99",
                f"{_n(i['latency_p50_s'], 2)} / {_n(i['latency_p99_s'], 2)}",
                "s",
            ),
            (f"issue/{db}", "anchoring batches (largest)", f"{i['batches']} ({_n(i['largest_batch'])})", ""),
        ]
        for kind, label in (
            ("get_v", f"GET /v/<token> (JSON), {v.get('distinct_urls', '?')} distinct bills"),
            ("post_verify_file", f"POST /api/v1/verify, {v.get('distinct_files', '?')} distinct bill files"),
        ):
            w = v[kind]
            out.append(
                (
                    f"verify/{db}",
                    label,
                    f"{w['requests_per_s']:,.0f} req/s, p50 {w['p50_ms']:.1f}, p99 {w['p99_ms']:.1f}"
                    f", non-2xx {w['non_2xx']}",
                    "ms",
                )
            )
    for db, imp in ((k, v) for k, v in r.get("imports", {}).items() if isinstance(v, dict)):
        out.append(
            (
                f"import/{db}",
                f"{imp['rows']:,} CSV rows: validate / issue / anchored after",
                f"{imp['parse_validate_s']:.1f} / {imp['issue_s']:.1f} / {imp['anchored_after_issue_s']:.1f}"
                f" ({imp['anchoring_transactions']} anchoring txs, largest root {imp['largest_root']:,})",
                "s",
            )
        )
    s = r["setup"]
    out.append(
        (
            "setup",
            "make compile, fresh clone, warm caches",
            "skipped" if s.get("skipped") else _n(s["make_compile_s"], 1),
            "s",
        )
    )
    return out


def print_table(r: dict[str, Any]) -> None:
    m = r["machine"]
    table = Table(
        title=f"Billchain bench — {m['nproc']} cores, {m['cpu_model']}, Python {m['python']}, {m['date_utc']}"
    )
    for column in ("area", "measure", "value", "unit"):
        table.add_column(column)
    for row in rows(r):
        table.add_row(*row)
    table.add_section()
    for t in r["targets"]:
        value = t["value"]
        shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
        table.add_row("target", t["target"], shown, "[green]pass[/]" if t["pass"] else "[red]MISS[/]")
    Console(width=160).print(table)
