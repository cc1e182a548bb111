"""Generated API tests: schemathesis against /api/v1/openapi.json, every role, on the real app.

`fuzz()` is the one runner: `make test` calls it with a few hundred cases (tests/app/test_api_schema.py),
`make bench` with at least 10,000 (`run()`). Each case is sent with a real bearer token of one role (or
none) and half the time with a real bill id in the path, so the answers with bodies are checked too, not
only the 404s; every schemathesis check runs on every answer and each failure is counted, not raised.
"""

from __future__ import annotations

import contextlib
import logging
import random
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.errors import FailureGroup
from sqlalchemy import select

from app import create_app
from app.bills.identifiers import credit_code_check_char
from app.chain import deploy
from app.extensions import db
from app.models import ApiToken, Bill, BillStatus, Organisation, OrgKind, OrgStatus
from app.outbox.worker import AnchorWorker
from app.services.organisations import onboard_organisation
from app.services.provisioning import ensure_finance, upgrade_database
from bench.domain import sample_payload
from dev.devchain import ANVIL_DEV_KEYS, dev_account, start_anvil

ROLES = ("anonymous", "issuer", "claimant", "finance")

# Every check runs as schemathesis defines it, with two documented answers added: a schema-valid bill may
# still break a domain rule JSON Schema cannot say (ID check characters, amount = quantity × price, total =
# Σ items): 422; and more than 1,000 bills in one body (the schema's maxItems) is refused as too large: 413.
# Anything else a valid request gets (400, 500) still fails, and so does invalid data that is accepted.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "503"]
            },
            "negative_data_rejection": {
                "expected-statuses": [
                    *("400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "503")
                ]
            },
        }
    }
)


@dataclass
class FuzzResult:
    cases: int = 0
    server_errors: int = 0
    failures: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)  # "METHOD path: failure title" → count
    examples: dict[str, str] = field(default_factory=dict)  # one message per kind, for the report

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "server_errors": self.server_errors,
            "failures": self.failures,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "failure_kinds": dict(self.kinds),
            "examples": self.examples,
        }


def fuzz(
    app: Flask,
    tokens: dict[str, str],
    bill_ids: list[str],
    examples: int,
    seed: int = 13,
    result: FuzzResult | None = None,
) -> FuzzResult:
    """`examples` generated cases per operation and generation mode (positive, negative), every check.

    The same seed generates the same cases (a failure can be replayed); another seed, other cases.
    """
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=CONFIG)
    result = result if result is not None else FuzzResult()
    pick = random.Random(seed)
    for found in schema.get_all_operations():
        operation = found.ok()  # type: ignore[union-attr]  # an Err (e.g. an unresolvable $ref) fails here
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, mode, tokens, bill_ids, examples, pick, result, seed)
    return result


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    tokens: dict[str, str],
    bill_ids: list[str],
    examples: int,
    pick: random.Random,
    result: FuzzResult,
    seed: int,
) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @hypothesis_seed(seed)
    @given(case=operation.as_strategy(generation_mode=mode), role=st.sampled_from(ROLES))
    def one(case: Any, role: str) -> None:
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role in tokens else {}
        if "bill_id" in (case.path_parameters or {}) and bill_ids and pick.random() < 0.5:
            case.path_parameters["bill_id"] = pick.choice(bill_ids)
        result.cases += 1
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the app raised through the WSGI stack: a server error
            result.server_errors += 1
            _note(result, f"{label}: exception {type(exc).__name__}", repr(exc))
            return
        result.statuses[response.status_code] += 1
        if response.status_code >= 500 and response.status_code != 503:
            result.server_errors += 1
        try:
            case.validate_response(response, headers=headers)
        except (FailureGroup, Exception) as exc:  # FailureGroup is a BaseExceptionGroup
            for failure in getattr(exc, "exceptions", [exc]):
                result.failures += 1
                title = getattr(failure, "title", type(failure).__name__)
                _note(result, f"{label}: {title}", f"{role} → {response.status_code}: {failure}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (no parameters, no body)
            one()


def _note(result: FuzzResult, kind: str, message: str) -> None:
    result.kinds[kind] += 1
    result.examples.setdefault(kind, message[:600])


# ---------------------------------------------------------------------------------------------- bench


@contextmanager
def fuzz_app() -> Iterator[tuple[Flask, dict[str, str], list[str]]]:
    """The real app on Anvil + SQLite with an issuer, a claimant and finance, and anchored bills."""
    with start_anvil() as node, tempfile.TemporaryDirectory(prefix="billchain-fuzz-") as tmp:
        deployment = deploy(node.rpc_url, dev_account(0))
        app = create_app(
            {
                "TESTING": True,
                "RATELIMIT_ENABLED": False,
                "BILLCHAIN_WORKER": False,
                "BILLCHAIN_DATABASE_URL": f"sqlite:///{Path(tmp) / 'fuzz.sqlite'}",
                "BILLCHAIN_RPC_URL": node.rpc_url,
                "BILLCHAIN_REGISTRY": deployment.address,
                "BILLCHAIN_CHAIN_ID": deployment.chain_id,
                "BILLCHAIN_KEYSTORE_DIR": str(Path(tmp) / "keystore"),
                "BILLCHAIN_KEYSTORE_PASSWORD": "bench-password",
                "BILLCHAIN_KEYSTORE_KDF_N": 2**10,
                "BILLCHAIN_ADMIN_KEY": ANVIL_DEV_KEYS[0],
                "BILLCHAIN_ANCHOR_INTERVAL": 0.05,
                "BILLCHAIN_CLAIM_WAIT": 5.0,
                "BILLCHAIN_SECRET_KEY": "bench-secret",
            }
        )
        tokens: dict[str, str] = {}
        with app.app_context():
            upgrade_database()
            ensure_finance(password="bench-finance")
            org_ids = []
            for i, kind in enumerate(("issuer", "claimant")):
                first17 = f"1211000040000{i + 1:04d}"
                done = onboard_organisation(f"{kind} bench", first17 + credit_code_check_char(first17), kind, actor="b")
                tokens[kind] = done.token
                org_ids.append(done.organisation.id)
            finance = db.session.scalars(select(Organisation).where(Organisation.kind == OrgKind.FINANCE)).one()
            token, tokens["finance"] = ApiToken.issue(finance, "fuzz")
            db.session.add(token)
            db.session.commit()
        worker = AnchorWorker(app, holder="fuzz")
        app.extensions["billchain"].worker = worker
        worker.start()
        try:
            _wait(app, lambda: all(_status(Organisation, i) == OrgStatus.ACTIVE for i in org_ids))
            client = app.test_client()
            answer = client.post(
                "/api/v1/bills",
                json=[sample_payload() for _ in range(6)],
                headers={"Authorization": f"Bearer {tokens['issuer']}"},
            )
            assert answer.status_code == 201, answer.get_json()
            bill_ids = [b["id"] for b in answer.get_json()]
            _wait(app, lambda: all(_status(Bill, i) == BillStatus.ANCHORED for i in bill_ids))
            yield app, tokens, bill_ids
        finally:
            worker.stop()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def _status(model: Any, key: Any) -> str | None:
    row = db.session.get(model, key)
    return None if row is None else str(row.status)


def _wait(app: Flask, condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            db.session.expire_all()
            if condition():
                return
        time.sleep(0.05)
    raise RuntimeError("the fuzz app did not get ready")


def run(tiny: bool) -> dict[str, Any]:
    """At least 10,000 generated cases (tiny: a few dozen), their statuses and every failure."""
    logging.getLogger("billchain").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    with fuzz_app() as (app, tokens, bill_ids):
        operations = sum(1 for _ in schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app).get_all_operations())
        target = 40 if tiny else 10_000
        per_operation = max(2, -(-target // (operations * 2)))
        result = fuzz(app, tokens, bill_ids, per_operation)
        rounds = 1
        while result.cases < target:  # small operations run out of distinct cases: more seeds, more cases
            fuzz(app, tokens, bill_ids, max(2, per_operation // 4), seed=13 + rounds, result=result)
            rounds += 1
    out = result.to_dict()
    out.update({"operations": operations, "examples_per_operation_and_mode": per_operation, "rounds": rounds})
    out["fuzz_s"] = time.perf_counter() - started
    return out
