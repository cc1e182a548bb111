"""Targets and the one table (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its figure and pass/miss."""
    g = r["gas"]
    rows: list[tuple[str, Any, Any, str]] = [
        ("anchoring gas ≤ 48,200", g["anchor_single"], 48_200, "le"),
        ("claim gas, 10-level proof (1,000 bills) ≤ 65,000", g["claim_tree_1000"], 65_000, "le"),
        ("anchor gas per bill at 1,000 bills/root ≤ 50", g["anchor_gas_per_bill_1000"], 50, "le"),
    ]
    side = r["e2e"].get("side_by_side") or {}
    peer = (side.get("peer") or {}).get("verifications_per_s")
    bare = (side.get("bare_flask") or {}).get("requests_per_s")
    for db in ("sqlite", "postgresql"):
        e = r["e2e"][db]
        i = e["issuance"]
        rows.append((f"issuance {db}: ≥ 1,500 bills/s created→anchored", i["bills_per_s"], 1_500, "ge"))
        rows.append((f"issuance {db}: request→anchored p50 ≤ 1.0 s", i["latency_p50_s"], 1.0, "le"))
        rows.append((f"issuance {db}: request→anchored p99 ≤ 2.0 s", i["latency_p99_s"], 2.0, "le"))
        for kind in ("get_v", "post_verify_file"):
            v = e["verification"][kind]
            rows.append((f"verify {db} {kind}: ≥ 1,500 req/s", v["requests_per_s"], 1_500, "ge"))
            rows.append((f"verify {db} {kind}: p99 ≤ 30 ms", v["p99_ms"], 30, "le"))
            if peer:
                rows.append((f"verify {db} {kind}: ≥ 5× the peer", v["requests_per_s"] / peer, 5, "ge"))
            if bare:
                rows.append((f"verify {db} {kind}: ≥ 25 % of bare Flask", 100 * v["requests_per_s"] / bare, 25, "ge"))
        fresh = e["verification"].get("freshness")
        if fresh:
            lag = fresh["max_lag_blocks"] if not fresh["without_block"] else 10**9
            rows.append((f"verify {db}: answers name a block ≤ 1 behind the head", lag, 1, "le"))
        tally = e["verification"].get("tally")
        if tally:
            rows.append(
                (
                    f"tally {db}: growth per million verifications ≤ 8 KB",
                    tally["bytes_per_million_revisits"],
                    8_192,
                    "le",
                )
            )
    rows += proof_targets(r)
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
    out += side_rows(r)
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
    out += proof_rows(r)
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


def side_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The ceilings, the peer, the ratios, the tally's growth and the profile, beside verification."""
    side = r["e2e"].get("side_by_side") or {}
    out: list[tuple[str, str, str, str]] = []
    for db in ("sqlite", "postgresql"):
        v = r["e2e"][db]["verification"]
        w = v.get("get_v_revisit")
        if w:
            out.append((f"verify/{db}", "GET /v/<token>, the same bills again", _load(w), "ms"))
        t = v.get("tally")
        if t:
            out.append(
                (
                    f"tally/{db}",
                    "database growth: first-hand / revisits",
                    f"{t['first_hand_bytes']:,} B for {t['first_hand_verifications']:,} ({t['first_hand_rows']:,} rows)"
                    f" / {t['revisit_bytes']:,} B for {t['revisit_verifications']:,} ({t['revisit_rows']:,} rows)",
                    "",
                )
            )
            out.append(
                (f"tally/{db}", "growth per million verifications (revisits)", _n(t["bytes_per_million_revisits"]), "B")
            )
        f = v.get("freshness")
        if f:
            out.append(
                (f"verify/{db}", "as_of_block behind the head (max of samples)", _n(f["max_lag_blocks"]), "blocks")
            )
    if not side:
        return out
    bare, anvil, peer = side.get("bare_flask"), side.get("anvil_eth_call_verify"), side.get("peer")
    if bare:
        out.append(("ceiling", "bare Flask JSON endpoint, same gunicorn", _load(bare), "ms"))
    if anvil:
        out.append(("ceiling", "Anvil's own eth_call of verify()", _load(anvil), "ms"))
    if peer:
        out.append(
            (
                "peer",
                f"oa-verify, {peer['documents']:,} documents, {peer['concurrency']} concurrent",
                f"{peer['verifications_per_s']:,.0f} verifications/s, p50 {peer['p50_ms']:.1f}"
                f", p99 {peer['p99_ms']:.1f}, invalid {peer['invalid']}",
                "ms",
            )
        )
    for db in ("sqlite", "postgresql"):
        v = r["e2e"][db]["verification"]
        for kind, label in (("get_v", "GET"), ("post_verify_file", "POST")):
            rps = v[kind]["requests_per_s"]
            ratios = []
            if peer:
                ratios.append(f"{rps / peer['verifications_per_s']:.1f}× the peer")
            if bare:
                ratios.append(f"{100 * rps / bare['requests_per_s']:.0f} % of bare Flask")
            if anvil:
                ratios.append(f"{100 * rps / anvil['requests_per_s']:.0f} % of Anvil's eth_call")
            out.append((f"ratio/{db}", f"{label} verify", ", ".join(ratios), ""))
    for name in ("profile_before", "profile_after"):
        p = side.get(name)
        if p and p.get("parts"):
            for part, share in p["parts"].items():
                out.append((name.replace("_", " "), part, f"{share:.1f}", "% of busy samples"))
    return out


def _load(w: dict[str, Any]) -> str:
    return f"{w['requests_per_s']:,.0f} req/s, p50 {w['p50_ms']:.1f}, p99 {w['p99_ms']:.1f}, non-2xx {w['non_2xx']}"


def proof_targets(r: dict[str, Any]) -> list[tuple[str, Any, Any, str]]:
    """Issue 13's proofs: generated API cases, the soak, and the timings that left the tests."""
    out: list[tuple[str, Any, Any, str]] = [
        ("Merkle build, 10,000 bills ≤ 1,000 ms", r["domain"]["merkle_10000_ms"], 1_000, "le"),
    ]
    if f := r.get("schema_fuzz"):
        out += [
            ("schema fuzz: generated cases ≥ 10,000", f["cases"], 40 if r.get("tiny") else 10_000, "ge"),
            ("schema fuzz: server errors = 0", f["server_errors"], 0, "le"),
            ("schema fuzz: conformance failures = 0", f["failures"], 0, "le"),
        ]
    if k := r.get("soak"):
        out += [
            ("soak: error rate = 0", k["error_rate"], 0, "le"),
            ("soak: server RSS growth after the first minute ≤ 50 MB", k["rss_growth_kb"] / 1024, 50, "le"),
        ]
        if "rss_last7_deviation_pct" in k and not r.get("tiny"):
            out.append(("soak: server RSS within ±5 % over the last 7 minutes", k["rss_last7_deviation_pct"], 5, "le"))
    if t := r.get("timeouts"):
        out += [
            ("receipt wait (timeout 0.3 s) gives up ≤ 1.0 s", t["receipt_timeout_0_3_s"], 1.0, "le"),
            ("killed node: ChainUnavailable ≤ 0.5 s (no retries)", t["killed_node_s"], 0.5, "le"),
            ("hung node (timeout 0.5 s): ChainUnavailable ≤ 1.0 s", t["hung_node_timeout_0_5_s"], 1.0, "le"),
        ]
    return out


def proof_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    out: list[tuple[str, str, str, str]] = []
    if f := r.get("schema_fuzz"):
        statuses = ", ".join(f"{k}: {v:,}" for k, v in f["statuses"].items())
        out.append(
            (
                "schema fuzz",
                f"{f['operations']} operations × 4 callers, positive + negative",
                f"{f['cases']:,} cases, {f['server_errors']} server errors, {f['failures']} failures",
                "",
            )
        )
        out.append(("schema fuzz", "statuses", statuses, ""))
        out += [("schema fuzz", f"failure: {kind}", _n(count), "") for kind, count in f["failure_kinds"].items()]
    if k := r.get("soak"):
        out.append(
            (
                "soak",
                f"{k['seconds']:.0f} s, {k['clients']} clients, issue/verify/claim",
                f"{k['requests']:,} requests, {k['errors']} errors",
                "",
            )
        )
        out.append(("soak", "server RSS per minute", " → ".join(f"{v / 1024:.0f}" for v in k["rss_kb"]), "MB"))
        for m in k["minutes"]:
            rss = f", RSS {m['rss_kb'] / 1024:.0f} MB" if m.get("rss_kb") else ""
            out.append(
                (
                    "soak",
                    f"minute {m['minute']}: {m['requests']:,} requests, {m['errors']} errors{rss}",
                    f"p50 {m['p50_ms']:.1f}, p99 {m['p99_ms']:.1f}, max {m['max_ms']:.1f}",
                    "ms",
                )
            )
        for failure in k.get("error_samples", []):
            status = failure["status"] if failure["status"] is not None else "no answer"
            out.append(
                (
                    "soak",
                    f"error, minute {failure['minute']}: {failure['target'][:60]}",
                    str(status),
                    failure["body"][:90],
                )
            )
    if t := r.get("timeouts"):
        out += [
            ("faults", "receipt wait, timeout 0.3 s", _n(t["receipt_timeout_0_3_s"] * 1e3, 0), "ms"),
            ("faults", "killed node → ChainUnavailable", _n(t["killed_node_s"] * 1e3, 1), "ms"),
            ("faults", "hung node, timeout 0.5 s → ChainUnavailable", _n(t["hung_node_timeout_0_5_s"] * 1e3, 0), "ms"),
        ]
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
