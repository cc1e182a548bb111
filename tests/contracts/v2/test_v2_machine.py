"""Property test: random anchor / lock / release / claim (partial, full, too much) / paper / void / revoke /
rotate / time travel across 3 issuers and 3 reimbursing units, every outcome predicted exactly beforehand.

Invariants read from the chain (verify() and billStateOf()), not from the model alone: the reimbursed sum never
exceeds the total; a live lock's bill changes only by its holder; voided and converted bills take no claim;
statuses only move forward; roles follow the key records; verify() agrees with the model.

Steps: BILLCHAIN_V2_STEPS (default 60) are spread over examples of at most 20 steps, so the default runs 3
examples (about 10 s of CPU in-process) and `BILLCHAIN_V2_STEPS=1000` runs 50.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Any

import ape
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from v2kit import (
    MAX_LOCK,
    ZERO32,
    MerkleTree,
    OrgKind,
    Status,
    credit_code,
    fresh_account,
    make_bill,
    now,
    register,
    reverts,
    rotation,
)

STEPS = int(os.environ.get("BILLCHAIN_V2_STEPS", "60"))
STEPS_PER_EXAMPLE = min(STEPS, 20)
EXAMPLES = max(1, math.ceil(STEPS / STEPS_PER_EXAMPLE))

# Distinct bill numbers (one version each: re-anchored versions are covered in test_v2_bills.py).
BILL_POOL = [make_bill(f"machine-{n}", total_fen=[10_000, 2_500, 1][n % 3]) for n in range(6)]
BATCH = st.sets(st.integers(0, len(BILL_POOL) - 1), min_size=1, max_size=3)
PAPER = b"PAPER-0001".ljust(32, b"\x00")
ROTATION_KEYS = 3


@dataclass(frozen=True)
class BillModel:
    status: int = Status.ISSUED
    holder: int = 0
    until: int = 0
    reimbursed: int = 0
    last_by: int = 0
    last_at: int = 0
    reason: int = 0
    paper: bytes = ZERO32
    replacement: bytes = ZERO32


@dataclass
class Model:
    key: dict[int, Any]  # orgId -> current key account
    kind: dict[int, OrgKind]
    retired: dict[str, int] = field(default_factory=dict)  # key address -> orgId, for rotated-away keys
    rotated_at: dict[str, int] = field(default_factory=dict)
    revoked_at: dict[int, int] = field(default_factory=dict)
    anchors: dict[tuple[int, bytes], tuple[str, int, MerkleTree]] = field(default_factory=dict)
    bills: dict[tuple[int, bytes], BillModel] = field(default_factory=dict)

    def bill(self, issuer_id: int, ref: bytes) -> BillModel:
        return self.bills.get((issuer_id, ref), BillModel())


def terminal_error(registry: Any, ref: bytes, b: BillModel) -> tuple[Any, dict] | None:
    if b.status == Status.REIMBURSED:
        return registry.BillAlreadyReimbursed, {"billRef": ref, "by": b.last_by, "at": b.last_at}
    if b.status == Status.VOIDED:
        return registry.BillAlreadyVoided, {"billRef": ref, "by": b.last_by, "at": b.last_at}
    if b.status == Status.CONVERTED_TO_PAPER:
        return registry.BillOnPaper, {"billRef": ref, "paperNumber": b.paper, "at": b.last_at}
    return None


def run_machine(registry: Any, admin: Any, issuers: dict[int, Any], claimants: dict[int, Any], spare: list) -> None:
    roles = {OrgKind.ISSUER: registry.ISSUER_ROLE(), OrgKind.CLAIMANT: registry.CLAIMANT_ROLE()}
    issuer_ids, claimant_ids = sorted(issuers), sorted(claimants)
    stats = {"steps": 0, "ok": 0}
    senders = {a.address: a for a in [*issuers.values(), *claimants.values(), *spare]}

    class RegistryV2Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.snapshot = ape.chain.snapshot()
            self.model = Model(
                key={**issuers, **claimants},
                kind={i: OrgKind.ISSUER for i in issuers} | {i: OrgKind.CLAIMANT for i in claimants},
            )
            self.spare = list(spare)
            self.seen_status: dict[tuple[int, bytes], int] = {}
            self.before: dict[tuple[int, bytes], tuple[Any, int]] = {}  # state word and live lock before a step
            self.actor: int | None = None
            self.t = 0
            self.touched: set[tuple[int, bytes]] = set()  # anchor entries whose verify() a step may have changed
            self.roles_touched: set[int] = set()  # organisations whose keys' roles a step may have changed

        def teardown(self) -> None:
            try:
                self.touched = set(self.model.anchors)
                self.roles_touched = set(self.model.key)
                self.chain_invariants()
                self.roles_follow_keys()
            finally:
                ape.chain.restore(self.snapshot)

        # ------------------------------------------------------------ helpers

        def start(self, actor: int | None) -> int:
            """Fix the next block's time so every prediction knows it; remember who acts."""
            stats["steps"] += 1
            self.actor = actor
            self.t = ape.chain.pending_timestamp  # the time the step's transaction will be mined at
            # Every bill under a live lock, with its stored word: after the step, only the holder may have changed it.
            self.before = {
                key: (tuple(registry.billStateOf(*key)), b.holder)
                for key, b in self.model.bills.items()
                if b.until > self.t
            }
            self.touched |= {(i, r) for (i, r), (_, _, tree) in self.model.anchors.items() if (i, r) in self.locked()}
            return self.t

        def locked(self) -> set[tuple[int, bytes]]:
            """Anchor entries holding a bill with a lock on record (time travel changes what verify shows)."""
            refs = {key for key, b in self.model.bills.items() if b.until}
            return {
                (i, r)
                for (i, r), (_, _, tree) in self.model.anchors.items()
                if any((i, b.ref) in refs for b in tree.bills)
            }

        def touch(self, issuer_id: int, ref: bytes | None = None) -> None:
            """verify() may change for every root of `issuer_id` holding `ref` (every root if ref is None)."""
            self.touched |= {
                (i, r)
                for (i, r), (_, _, tree) in self.model.anchors.items()
                if i == issuer_id and (ref is None or any(b.ref == ref for b in tree.bills))
            }

        def active(self, org_id: int) -> bool:
            return org_id not in self.model.revoked_at

        def pick(self, n: int) -> tuple[int, MerkleTree, Any]:
            entries = sorted(self.model.anchors, key=lambda k: (k[0], k[1]))
            issuer_id, root = entries[n % len(entries)]
            tree = self.model.anchors[(issuer_id, root)][2]
            return issuer_id, tree, tree.bills[(n // len(entries)) % len(tree.bills)]

        def send(self, expected: tuple[Any, dict] | None, call: Any) -> Any:
            if expected is None:
                stats["ok"] += 1
                return call()
            with reverts(expected[0], **expected[1]):
                call()
            return None

        def unauthorized(self, org_id: int) -> tuple[Any, dict] | None:
            if self.active(org_id):
                return None
            key = self.model.key[org_id]
            return registry.AccessControlUnauthorizedAccount, {
                "account": key,
                "neededRole": roles[self.model.kind[org_id]],
            }

        # ------------------------------------------------------------ rules

        @initialize(org=st.sampled_from(issuer_ids), picks=BATCH)
        def first_anchor(self, org: int, picks: set[int]) -> None:
            self.anchor(org, picks)

        @rule(org=st.sampled_from(issuer_ids), picks=BATCH)
        def anchor(self, org: int, picks: set[int]) -> None:
            t = self.start(org)
            tree = MerkleTree([BILL_POOL[i] for i in sorted(picks)])
            key = self.model.key[org]
            expected = self.unauthorized(org)
            if expected is None and (org, tree.root) in self.model.anchors:
                by, at, _ = self.model.anchors[(org, tree.root)]
                expected = (
                    registry.BillRootAlreadyAnchored,
                    {"issuerId": org, "root": tree.root, "key": by, "anchoredAt": at},
                )
            if self.send(expected, lambda: registry.anchor(tree.root, sender=key)):
                self.model.anchors[(org, tree.root)] = (key.address, t, tree)
            self.touch(org)

        @precondition(lambda self: self.model.anchors)
        @rule(
            n=st.integers(0, 10**6),
            org=st.sampled_from(claimant_ids),
            seconds=st.sampled_from([0, 60, 3600, MAX_LOCK, MAX_LOCK + 1]),
        )
        def lock(self, n: int, org: int, seconds: int) -> None:
            t = self.start(org)
            issuer_id, tree, bill = self.pick(n)
            self.touch(issuer_id, bill.ref)
            b = self.model.bill(issuer_id, bill.ref)
            until = t + seconds
            expected = self.unauthorized(org)
            if expected is None and not t < until <= t + MAX_LOCK:
                expected = registry.BillLockUntilInvalid, {"until": until, "latest": t + MAX_LOCK}
            expected = expected or terminal_error(registry, bill.ref, b)
            if expected is None and b.until > t:
                expected = registry.BillLockedBy, {"billRef": bill.ref, "holderId": b.holder, "until": b.until}
            key = self.model.key[org]
            if self.send(expected, lambda: registry.lock(issuer_id, *tree.args(bill), until, sender=key)):
                self.model.bills[(issuer_id, bill.ref)] = replace(b, holder=org, until=until)

        @precondition(lambda self: self.model.anchors)
        @rule(n=st.integers(0, 10**6), org=st.sampled_from(claimant_ids))
        def release(self, n: int, org: int) -> None:
            t = self.start(org)
            issuer_id, _, bill = self.pick(n)
            self.touch(issuer_id, bill.ref)
            b = self.model.bill(issuer_id, bill.ref)
            expected = self.unauthorized(org)
            if expected is None and b.until <= t:
                expected = registry.BillNotLocked, {"billRef": bill.ref}
            if expected is None and b.holder != org:
                expected = registry.BillLockedBy, {"billRef": bill.ref, "holderId": b.holder, "until": b.until}
            key = self.model.key[org]
            if self.send(expected, lambda: registry.release(issuer_id, bill.ref, sender=key)):
                self.model.bills[(issuer_id, bill.ref)] = replace(b, holder=0, until=0)

        @precondition(lambda self: self.model.anchors)
        @rule(
            n=st.integers(0, 10**6),
            org=st.sampled_from(claimant_ids),
            how=st.sampled_from(["all", "all", "part", "part", "one", "over", "forged"]),
        )
        def claim(self, n: int, org: int, how: str) -> None:
            t = self.start(org)
            issuer_id, tree, bill = self.pick(n)
            self.touch(issuer_id, bill.ref)
            b = self.model.bill(issuer_id, bill.ref)
            remaining = max(bill.total_fen - b.reimbursed, 0)
            amount = {"all": 0, "part": max(1, remaining // 3), "one": 1, "over": remaining + 1, "forged": 0}[how]
            root, proof, ref, content, total = tree.args(bill)
            if how == "forged":
                total += 1
            expected = self.unauthorized(org)
            if expected is None and how == "forged":
                expected = (
                    registry.BillProofInvalid,
                    {"root": root, "billRef": ref, "contentHash": content, "totalFen": total},
                )
            expected = expected or terminal_error(registry, ref, b)
            if expected is None and b.until > t and b.holder != org:
                expected = registry.BillLockedBy, {"billRef": ref, "holderId": b.holder, "until": b.until}
            resolved = amount or remaining
            if expected is None and (resolved > remaining or resolved == 0):
                expected = (
                    registry.BillClaimExceedsRemaining,
                    {"billRef": ref, "amountFen": resolved, "remainingFen": remaining},
                )
            key = self.model.key[org]
            call = lambda: registry.claim(issuer_id, root, proof, ref, content, total, amount, ZERO32, sender=key)  # noqa: E731
            receipt = self.send(expected, call)
            if receipt:
                total_sum = b.reimbursed + resolved
                status = Status.REIMBURSED if total_sum == bill.total_fen else Status.PARTLY_REIMBURSED
                self.model.bills[(issuer_id, ref)] = BillModel(status, 0, 0, total_sum, org, t)
                [log] = receipt.events.filter(registry.BillClaimed)
                assert (log.claimantId, log.amountFen, log.remainingFen) == (org, resolved, remaining - resolved)

        def settle_by_issuer(self, n: int, org: int, status: int, reason: int, extra: bytes) -> None:
            t = self.start(org)
            issuer_id, tree, bill = self.pick(n)
            self.touch(issuer_id, bill.ref)
            self.touch(org, bill.ref)
            expected = self.unauthorized(org)
            if expected is None and status == Status.VOIDED and reason == 0:
                expected = registry.BillVoidReasonMissing, {}
            if expected is None and status == Status.CONVERTED_TO_PAPER and extra == ZERO32:
                expected = registry.BillPaperNumberMissing, {}
            if expected is None and (org, tree.root) not in self.model.anchors:
                expected = registry.BillRootUnknown, {"issuerId": org, "root": tree.root}
            b = self.model.bill(org, bill.ref)
            expected = expected or terminal_error(registry, bill.ref, b)
            if expected is None and b.reimbursed:
                expected = registry.BillReimbursementStarted, {"billRef": bill.ref, "reimbursedFen": b.reimbursed}
            if expected is None and b.until > t:
                expected = registry.BillLockedBy, {"billRef": bill.ref, "holderId": b.holder, "until": b.until}
            key = self.model.key[org]
            if status == Status.VOIDED:
                call = lambda: registry.voidBill(*tree.args(bill), reason, extra, sender=key)  # noqa: E731
            else:
                call = lambda: registry.convertToPaper(*tree.args(bill), extra, sender=key)  # noqa: E731
            if self.send(expected, call):
                paper = extra if status == Status.CONVERTED_TO_PAPER else ZERO32
                replacement = extra if status == Status.VOIDED else ZERO32
                self.model.bills[(org, bill.ref)] = BillModel(status, 0, 0, 0, org, t, reason, paper, replacement)

        @precondition(lambda self: self.model.anchors)
        @rule(
            n=st.integers(0, 10**6),
            own=st.booleans(),
            org=st.sampled_from(issuer_ids),
            reason=st.sampled_from([0, 1, 2]),
        )
        def void(self, n: int, own: bool, org: int, reason: int) -> None:
            actor = self.pick(n)[0] if own else org
            self.settle_by_issuer(n, actor, Status.VOIDED, reason, keccak(b"replacement") if reason == 1 else ZERO32)

        @precondition(lambda self: self.model.anchors)
        @rule(
            n=st.integers(0, 10**6),
            own=st.booleans(),
            org=st.sampled_from(issuer_ids),
            number=st.sampled_from([PAPER, PAPER, ZERO32]),
        )
        def paper(self, n: int, own: bool, org: int, number: bytes) -> None:
            actor = self.pick(n)[0] if own else org
            self.settle_by_issuer(n, actor, Status.CONVERTED_TO_PAPER, 0, number)

        @precondition(lambda self: len(self.model.revoked_at) < 2)
        @rule(org=st.sampled_from(issuer_ids + claimant_ids))
        def revoke(self, org: int) -> None:
            t = self.start(None)
            self.touch(org)
            self.roles_touched.add(org)
            expected = None
            if not self.active(org):
                expected = registry.OrgAlreadyRevoked, {"orgId": org, "revokedAt": self.model.revoked_at[org]}
            if self.send(expected, lambda: registry.revokeOrganisation(org, sender=admin)):
                self.model.revoked_at[org] = t

        @precondition(lambda self: self.spare)
        @rule(org=st.sampled_from(issuer_ids + claimant_ids))
        def rotate(self, org: int) -> None:
            t = self.start(None)
            self.touch(org)
            self.roles_touched.add(org)
            new_key = self.spare[0]
            request, signature = rotation(registry, org, new_key, deadline=t + 600)
            expected = None
            if not self.active(org):
                expected = registry.OrgAlreadyRevoked, {"orgId": org, "revokedAt": self.model.revoked_at[org]}
            if self.send(expected, lambda: registry.rotateKey(request, signature, sender=admin)):
                old = self.model.key[org]
                self.model.retired[old.address] = org
                self.model.rotated_at[old.address] = t
                self.model.key[org] = new_key
                self.spare.pop(0)

        @precondition(lambda self: self.model.retired)
        @rule(which=st.integers(0, 10))
        def retired_key_tries_to_act(self, which: int) -> None:
            self.start(None)
            address = sorted(self.model.retired)[which % len(self.model.retired)]
            org = self.model.retired[address]
            kind = self.model.kind[org]
            expected = registry.AccessControlUnauthorizedAccount, {"account": address, "neededRole": roles[kind]}
            sender = senders[address]
            if kind == OrgKind.ISSUER:
                self.send(expected, lambda: registry.anchor(keccak(address.encode()), sender=sender))
            else:
                self.send(expected, lambda: registry.release(issuer_ids[0], BILL_POOL[0].ref, sender=sender))

        @rule(seconds=st.sampled_from([30, 3600, MAX_LOCK + 1]))
        def travel(self, seconds: int) -> None:
            self.start(None)
            ape.chain.mine(timestamp=now() + seconds)
            self.touched |= self.locked()

        # ------------------------------------------------------------ invariants (read from the chain)

        @invariant()
        def chain_invariants(self) -> None:
            head = now()
            for issuer_id, root in self.touched:
                key, anchored_at, tree = self.model.anchors[(issuer_id, root)]
                for bill in tree.bills:
                    got = registry.verify(issuer_id, *tree.args(bill))
                    # The reimbursed sum never exceeds the committed total.
                    assert got.reimbursedFen <= got.totalFen == bill.total_fen
                    # Converted and voided bills took no claim part.
                    if got.status in (Status.VOIDED, Status.CONVERTED_TO_PAPER):
                        assert got.reimbursedFen == 0
                    b = self.model.bill(issuer_id, bill.ref)
                    live = b.until > head + 1 or (b.until > head and got.lockHolderId)  # boundary: eth_call's clock
                    expected = (
                        b.status,
                        issuer_id,
                        key,
                        anchored_at,
                        self.model.revoked_at.get(issuer_id, 0),
                        self.model.rotated_at.get(key, 0),
                        b.holder if live else 0,
                        b.until if live else 0,
                        bill.total_fen,
                        b.reimbursed,
                        b.last_by,
                        b.last_at,
                        b.paper,
                        b.replacement,
                        b.reason,
                    )
                    assert tuple(got) == expected, f"{issuer_id}/{bill.ref.hex()[:8]}: {tuple(got)} != {expected}"
            keys = {(i, b.ref) for i, r in self.touched for b in self.model.anchors[(i, r)][2].bills} | set(self.before)
            for key in keys:
                state = registry.billStateOf(*key)
                # Statuses only move forward.
                before = self.seen_status.get(key, 0)
                assert state.status >= before, f"{key}: {before} -> {state.status}"
                self.seen_status[key] = state.status
                # A bill under a live lock changes only by its holder (liveness judged at the step's block time).
                word, holder = self.before.get(key, (None, 0))
                if word is not None and tuple(state) != word:
                    assert self.actor == holder, f"{key} changed by {self.actor} under {holder}'s lock"
            self.touched.clear()
            self.before.clear()

        @invariant()
        def roles_follow_keys(self) -> None:
            for org in self.roles_touched:
                role = roles[self.model.kind[org]]
                assert registry.hasRole(role, self.model.key[org]) == self.active(org)
                assert not any(registry.hasRole(role, a) for a, o in self.model.retired.items() if o == org)
            self.roles_touched.clear()

    run_state_machine_as_test(
        RegistryV2Machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS_PER_EXAMPLE,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    assert stats["steps"] >= EXAMPLES and stats["ok"] > 0, stats


def test_registry_v2_matches_model_under_random_operations(
    registry_v2, admin, issuer, other_issuer, third_issuer, claimant, other_claimant, third_claimant
):
    issuers = {1: issuer, 2: other_issuer, 5: third_issuer}
    claimants = {3: claimant, 4: other_claimant, 6: third_claimant}
    assert register(registry_v2, admin, third_issuer, "第三开票单位", credit_code(5), OrgKind.ISSUER) == 5
    assert register(registry_v2, admin, third_claimant, "第三报销单位", credit_code(6), OrgKind.CLAIMANT) == 6
    spare = [fresh_account(admin) for _ in range(ROTATION_KEYS)]

    run_machine(registry_v2, admin, issuers, claimants, spare)
