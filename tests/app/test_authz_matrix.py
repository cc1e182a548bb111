"""Who may open what: every route of Flask's URL map × every kind of caller → the status it must get.

The table is written out by hand (it is the policy); the routes come from the app, so a route added
without a row fails `test_every_route_has_a_row`. Requests carry no valid form (empty POST), so a caller
who is let in gets the route's answer to bad input (200 form again, 400, 404, 422), never a side effect,
and one who is not gets 302 to the login page (pages), 401 (API, no token) or 403 (wrong role, revoked).

Callers: anonymous; a payer with an open wallet; issuer A (whose bill every `<bill_id>` is); issuer B;
a reimbursing unit; the finance department; an issuer whose organisation is revoked (logged in and with a
token from before the revocation, reading its own bill).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient
from test_wallet import ID_NUMBER, PHONE, open_wallet

from app.extensions import db
from app.models import ApiToken, Bill, Organisation, OrgKind
from app.services.organisations import revoke_organisation

CALLERS = ("anonymous", "payer", "issuer_a", "issuer_b", "claimant", "finance", "revoked")

L = 302  # to the login page
# A page only some organisations may open: anonymous and the payer go to the login, the rest by kind.
ISSUER_PAGE = (L, L, 200, 200, 403, 403, L)  # any issuer: its own list, its own form
CLAIMANT_PAGE = (L, L, 403, 403, 200, 403, L)
FINANCE_PAGE = (L, L, 403, 403, 403, 200, L)
PUBLIC = (200,) * 7
# API: no token 401; a revoked organisation's token is refused (401 or 403: see REVOKED_API).
API_READ = (401, 401, 200, 404, 200, 200, 403)  # the bill: its issuer; masked, a reimbursing unit and finance

# (rule, method) → expected status per caller, in CALLERS order.
MATRIX: dict[tuple[str, str], tuple[int, ...]] = {
    ("/", "GET"): PUBLIC,
    ("/static/<path:filename>", "GET"): PUBLIC,
    ("/lang/<code>", "GET"): (302,) * 7,
    ("/login", "GET"): PUBLIC,
    ("/login", "POST"): PUBLIC,  # the form again: nothing was sent
    ("/logout", "POST"): (L, L, 302, 302, 302, 302, L),
    ("/verify", "GET"): PUBLIC,
    ("/verify", "POST"): (400,) * 7,  # nothing to verify
    ("/v/<path:token>", "GET"): PUBLIC,
    ("/chain/tx/<tx_hash>", "GET"): PUBLIC,
    ("/import/template.csv", "GET"): PUBLIC,
    # issuing
    ("/issue", "GET"): ISSUER_PAGE,
    ("/issue", "POST"): (L, L, 422, 422, 403, 403, L),
    ("/issue/capital", "GET"): (L, L, 200, 200, 200, 200, L),  # 大写 of an amount, for any logged-in form
    ("/bills", "GET"): ISSUER_PAGE,
    # the bill page: its issuer; a reimbursing unit and finance see it masked; other issuers learn nothing
    ("/bills/<bill_id>", "GET"): (L, L, 200, 404, 200, 200, L),
    ("/bills/<bill_id>/bill.pdf", "GET"): (L, L, 200, 404, 200, 200, L),
    ("/bills/<bill_id>/bill.ofd", "GET"): (L, L, 200, 404, 403, 403, L),  # carries the bill file
    ("/bills/<bill_id>/file.json", "GET"): (L, L, 200, 404, 403, 403, L),
    ("/bills/<bill_id>/status.json", "GET"): (L, L, 200, 404, 200, 200, L),
    ("/bills/<bill_id>/void", "POST"): (L, L, 400, 404, 403, 403, L),
    # registry v2 only (this app runs v1: the issuer's own bill answers 404; tests/app/test_reimbursement_pages.py)
    ("/bills/<bill_id>/paper", "POST"): (L, L, 404, 404, 403, 403, L),
    ("/import", "GET"): ISSUER_PAGE,
    ("/import", "POST"): ISSUER_PAGE,
    ("/import/<int:job_id>", "GET"): (L, L, 404, 404, 403, 403, L),
    ("/import/<int:job_id>/status.json", "GET"): (L, L, 404, 404, 403, 403, L),
    # claiming
    ("/claim", "GET"): CLAIMANT_PAGE,
    ("/claim", "POST"): (L, L, 403, 403, 400, 403, L),
    ("/claim/<bill_id>", "POST"): (L, L, 403, 403, 422, 403, L),
    ("/claimed", "GET"): CLAIMANT_PAGE,
    ("/reviews", "GET"): CLAIMANT_PAGE,
    # registry v2 only: on v1 (this app) a reimbursing unit gets 404, every other caller as for claim pages
    ("/claim/<bill_id>", "GET"): (L, L, 403, 403, 404, 403, L),
    ("/claim/<bill_id>/lock", "POST"): (L, L, 403, 403, 404, 403, L),
    ("/claim/<bill_id>/release", "POST"): (L, L, 403, 403, 404, 403, L),
    # finance
    ("/finance", "GET"): FINANCE_PAGE,
    ("/finance/export.csv", "GET"): FINANCE_PAGE,
    ("/finance/reconcile", "GET"): FINANCE_PAGE,
    ("/finance/jobs/<int:job_id>/retry", "POST"): (L, L, 403, 403, 403, 404, L),
    ("/admin/orgs", "GET"): FINANCE_PAGE,
    ("/admin/orgs", "POST"): (L, L, 403, 403, 403, 422, L),
    ("/admin/orgs/<int:org_id>/revoke", "POST"): (L, L, 403, 403, 403, 302, L),
    ("/admin/orgs/<int:org_id>/tokens", "POST"): (L, L, 403, 403, 403, 200, L),  # shows the new token once
    ("/admin/tokens/<int:token_id>/revoke", "POST"): (L, L, 403, 403, 403, 404, L),
    ("/admin/admissions", "POST"): (L, L, 403, 403, 403, 400, L),  # no file
    ("/admin/admissions/<int:record_id>/approve", "POST"): (L, L, 403, 403, 403, 404, L),
    ("/admin/admissions/<int:record_id>/refuse", "POST"): (L, L, 403, 403, 403, 404, L),
    ("/dev/outbox", "GET"): (404,) * 7,  # development only (BILLCHAIN_DEV_OUTBOX)
    # the payer's wallet: only the payer's proven session opens it; organisations have no wallet
    ("/wallet", "GET"): (302, 200, 302, 302, 302, 302, 302),
    ("/wallet/login", "GET"): PUBLIC,
    ("/wallet/login", "POST"): PUBLIC,
    ("/wallet/code", "GET"): PUBLIC,  # the form; a code proves nothing without the pending login
    ("/wallet/code", "POST"): PUBLIC,
    ("/wallet/add", "POST"): (302, 302, 302, 302, 302, 302, 302),
    ("/wallet/bills/<bill_id>", "GET"): (302, 200, 302, 302, 302, 302, 302),
    ("/wallet/bills/<bill_id>/bill.pdf", "GET"): (302, 200, 302, 302, 302, 302, 302),
    ("/wallet/bills/<bill_id>/file", "GET"): (302, 200, 302, 302, 302, 302, 302),
    ("/wallet/bills/<bill_id>/bill.ofd", "GET"): (302, 200, 302, 302, 302, 302, 302),
    ("/wallet/logout", "POST"): (302,) * 7,
    # the JSON API (bearer tokens; the payer and anonymous have none)
    ("/api/v1/openapi.json", "GET"): PUBLIC,
    ("/api/v1/health", "GET"): PUBLIC,
    ("/api/v1/verify", "POST"): (422,) * 7,  # {} is no bill file
    ("/api/v1/bills", "GET"): (401, 401, 200, 200, 200, 403, 403),
    ("/api/v1/bills", "POST"): (401, 401, 422, 422, 403, 403, 403),
    ("/api/v1/bills/<bill_id>", "GET"): API_READ,
    ("/api/v1/bills/<bill_id>/events", "GET"): (401, 401, 200, 404, 200, 403, 403),
    ("/api/v1/bills/<bill_id>/qr.svg", "GET"): API_READ,
    ("/api/v1/bills/<bill_id>/qr.png", "GET"): API_READ,
    ("/api/v1/bills/<bill_id>/file", "GET"): (401, 401, 200, 404, 403, 403, 403),
    ("/api/v1/bills/<bill_id>/bill.ofd", "GET"): (401, 401, 200, 404, 403, 403, 403),
    ("/api/v1/bills/<bill_id>/claim", "POST"): (401, 401, 403, 403, 422, 403, 403),
    ("/api/v1/bills/<bill_id>/void", "POST"): (401, 401, 422, 422, 403, 403, 403),  # body checked before the bill
    # registry v2's review lock, release and paper conversion (this app runs v1)
    ("/api/v1/bills/<bill_id>/lock", "POST"): (401, 401, 403, 403, 422, 403, 403),
    ("/api/v1/bills/<bill_id>/release", "POST"): (401, 401, 403, 403, 403, 403, 403),  # v1: no chain id to act with
    ("/api/v1/bills/<bill_id>/paper", "POST"): (401, 401, 422, 422, 403, 403, 403),
    ("/api/v1/organisations/<credit_code>/seal-key", "GET"): (200,) * 7,
    # the consortium (registry v2): admission for the finance department, public proofs and relaying
    ("/api/v1/admissions", "POST"): (401, 401, 403, 403, 403, 422, 403),  # {} is no admission request
    ("/api/v1/admissions", "GET"): (401, 401, 403, 403, 403, 200, 403),
    ("/api/v1/admissions/<int:record_id>/approve", "POST"): (401, 401, 403, 403, 403, 404, 403),
    ("/api/v1/proofs/<bill_ref>/<content_hash>", "GET"): (404,) * 7,  # public; no such bill
    ("/api/v1/claims", "POST"): (401, 401, 403, 403, 422, 403, 403),
    ("/api/v1/calls/claim", "POST"): (422,) * 7,  # public: the call to sign needs no login, {} is no request
    ("/api/v1/transactions", "POST"): (422,) * 7,
}
# Rows that only hold once part B of issue 13 (revocation everywhere, the wallet rule) is in; listed so the
# closing note can say which failures are whose.
PART_B_ROWS = {rule for rule in MATRIX if rule[0].startswith(("/api/v1/bills/<bill_id>", "/wallet"))}


def _routes(app: Flask) -> list[tuple[str, str]]:
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    )


def test_every_route_has_a_row(app: Flask) -> None:
    routes = _routes(app)
    missing = [r for r in routes if r not in MATRIX]
    stale = [r for r in MATRIX if r not in routes]
    assert not missing, f"routes without a row in MATRIX (add the expected status per caller): {missing}"
    assert not stale, f"rows for routes that no longer exist: {stale}"


def _login(app: Flask, org: Org | None) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    if org is not None:
        answer = client.post("/login", data={"username": org.username, "password": org.password})
        assert answer.status_code == 302, f"{org.username} could not log in"
    return client


def _path(rule: str, values: dict[str, str]) -> str:
    path = rule
    for name, value in values.items():
        for converter in ("", "int:", "path:"):
            path = path.replace(f"<{converter}{name}>", value)
    return path


@pytest.fixture
def callers(app: Flask, onboard: Callable[..., Org], worker: Any) -> dict[str, Any]:
    issuer_a, issuer_b = onboard("issuer", "北京市第一中学"), onboard("issuer", "第二中学")
    claimant, revoked, victim = onboard("claimant"), onboard("issuer", "被撤销单位"), onboard("issuer", "另一单位")
    client = app.test_client()
    bill = client.post("/api/v1/bills", json=bill_payload(), headers=issuer_a.auth).get_json()
    own = client.post("/api/v1/bills", json=bill_payload(), headers=revoked.auth).get_json()
    wait_until(app, lambda: {db.session.get(Bill, b["id"]).status for b in (bill, own)} == {"anchored"})
    with app.app_context():
        finance_org = db.session.query(Organisation).filter_by(kind=OrgKind.FINANCE).one()
        token, finance_token = ApiToken.issue(finance_org, "matrix")
        db.session.add(token)
        db.session.commit()
        tx_hash = db.session.get(Bill, bill["id"]).batch.tx_hash
        credit = db.session.get(Organisation, issuer_a.id).credit_code
    finance = Org(0, "finance", "", finance_token, "finance", "finance-pass")
    clients = {
        "anonymous": (_login(app, None), {}),
        "payer": (_login(app, None), {}),
        "issuer_a": (_login(app, issuer_a), issuer_a.auth),
        "issuer_b": (_login(app, issuer_b), issuer_b.auth),
        "claimant": (_login(app, claimant), claimant.auth),
        "finance": (_login(app, finance), finance.auth),
        "revoked": (_login(app, revoked), revoked.auth),
    }
    open_wallet(app, clients["payer"][0], ID_NUMBER, PHONE)
    with app.app_context():
        revoke_organisation(db.session.get(Organisation, revoked.id), actor="test")
    token_part = bill["verify_url"].rsplit("/v/", 1)[1]
    values = {"filename": "app.css", "code": "en", "token": token_part, "tx_hash": tx_hash, "credit_code": credit}
    values.update({"job_id": "999999", "token_id": "999999", "org_id": str(victim.id), "record_id": "999999"})
    values.update({"bill_ref": "0x" + "00" * 32, "content_hash": "0x" + "11" * 32})
    bills = {name: bill["id"] for name in CALLERS}
    bills["revoked"] = own["id"]  # the revoked organisation reads its own bill
    return {"clients": clients, "values": values, "bills": bills}


def _call(client: FlaskClient, headers: dict[str, str], rule: str, method: str, path: str) -> int:
    if rule.startswith("/api/"):
        kwargs: dict[str, Any] = {"headers": headers}
        if method == "POST":
            kwargs["json"] = {}
    else:
        kwargs = {"data": {}} if method == "POST" else {}
    return client.open(path, method=method, **kwargs).status_code


def test_every_route_answers_every_caller_as_the_matrix_says(app: Flask, callers: dict[str, Any]) -> None:
    # Logging out ends the session the other rows need: those rows go last.
    routes = sorted(_routes(app), key=lambda r: r[0].endswith("/logout"))
    wrong: list[str] = []
    for rule, method in routes:
        expected = MATRIX.get((rule, method))
        if expected is None:
            continue  # test_every_route_has_a_row names it
        for caller, want in zip(CALLERS, expected, strict=True):
            client, headers = callers["clients"][caller]
            values = {**callers["values"], "bill_id": callers["bills"][caller]}
            got = _call(client, headers, rule, method, _path(rule, values))
            if got != want:
                part_b = " (part B)" if (rule, method) in PART_B_ROWS else ""
                wrong.append(f"{method} {rule} as {caller}: {got}, expected {want}{part_b}")
    assert not wrong, "\n".join(wrong)
