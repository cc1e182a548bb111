"""Property tests: random anchor / claim / void / revoke across several organisations, against a Python model.

Invariants: a bill (issuer, billRef) is claimed at most once; statuses only move forward; roles follow
registration and revocation; verify() agrees with the model for every anchored bill. Every step predicts
the exact outcome, revert and arguments included, before sending the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
from registry_testkit import (
    CLAIMED,
    CREDIT_CODE,
    ISSUED,
    KIND_ISSUER,
    UNKNOWN,
    VOIDED,
    ZERO32,
    ZERO_ADDRESS,
    Bill,
    MerkleTree,
    make_bill,
    reverts,
    timestamp_of,
)

# Few bill numbers and two contents each, so the same billRef turns up under several roots and issuers.
BILL_POOL = [make_bill(f"inv-{n}", version) for n in range(5) for version in range(2)]
FORGED = keccak(text="forged content")
BATCH = st.sets(st.integers(0, len(BILL_POOL) - 1), min_size=1, max_size=3)


@dataclass
class Settled:
    status: int
    by: str
    at: int


@dataclass
class Model:
    """What the registry should hold."""

    revoked_at: dict[str, int] = field(default_factory=dict)  # account -> cut-off, for revoked orgs
    anchors: dict[bytes, tuple[str, int, MerkleTree]] = field(default_factory=dict)  # root -> issuer, at, tree
    settlements: dict[tuple[str, bytes], Settled] = field(default_factory=dict)  # (issuer, billRef) -> settled
    claims: dict[tuple[str, bytes], int] = field(default_factory=dict)  # successful claims counted per bill


def run_machine(registry: Any, admin: Any, issuers: list[Any], claimants: list[Any], stranger: Any) -> None:
    issuer_role, claimant_role = registry.ISSUER_ROLE(), registry.CLAIMANT_ROLE()
    organisations = issuers + claimants

    class RegistryMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.snapshot = ape.chain.snapshot()
            self.model = Model()
            self.seen_status: dict[tuple[str, bytes], int] = {}
            self.touched: set[bytes] = set()  # roots whose verify() answer a step may have changed
            self.revocations_tried = 0

        def teardown(self) -> None:
            try:
                self.touched = set(self.model.anchors)
                self.verify_agrees_with_model()
            finally:
                ape.chain.restore(self.snapshot)

        # ------------------------------------------------------------ helpers

        def is_active(self, account: Any) -> bool:
            return account.address not in self.model.revoked_at

        def pick_anchored(self, pick: int) -> tuple[bytes, str, MerkleTree, Bill]:
            roots = list(self.model.anchors)
            root = roots[pick % len(roots)]
            issuer, _, tree = self.model.anchors[root]
            return root, issuer, tree, tree.bills[(pick // len(roots)) % len(tree.bills)]

        def touch_bill(self, issuer: str, bill_ref: bytes) -> None:
            """A settlement shows under every root of that issuer holding that billRef."""
            self.touched |= {
                root
                for root, (by, _, tree) in self.model.anchors.items()
                if by == issuer and any(b.ref == bill_ref for b in tree.bills)
            }

        def expect_settle_error(self, key: tuple[str, bytes]) -> tuple[Any, dict] | None:
            settled = self.model.settlements.get(key)
            if settled is None:
                return None
            error = registry.BillAlreadyClaimed if settled.status == CLAIMED else registry.BillAlreadyVoided
            return error, {"billRef": key[1], "by": settled.by, "at": settled.at}

        # ------------------------------------------------------------ rules

        @initialize(who=st.sampled_from(issuers), picks=BATCH)
        def first_anchor(self, who: Any, picks: set[int]) -> None:
            self.anchor(who, picks)

        @rule(who=st.sampled_from(issuers), picks=BATCH)
        def anchor(self, who: Any, picks: set[int]) -> None:
            tree = MerkleTree([BILL_POOL[i] for i in sorted(picks)])
            if not self.is_active(who):
                with reverts(registry.AccessControlUnauthorizedAccount, account=who, neededRole=issuer_role):
                    registry.anchor(tree.root, sender=who)
            elif tree.root in self.model.anchors:
                first, at, _ = self.model.anchors[tree.root]
                with reverts(registry.BillRootAlreadyAnchored, root=tree.root, issuer=first, anchoredAt=at):
                    registry.anchor(tree.root, sender=who)
                self.touched.add(tree.root)
            else:
                receipt = registry.anchor(tree.root, sender=who)
                self.model.anchors[tree.root] = (who.address, timestamp_of(receipt), tree)
                self.touched.add(tree.root)

        @precondition(lambda self: self.model.anchors)
        @rule(
            pick=st.integers(0, 10**6),
            who=st.sampled_from([*claimants, stranger]),
            variant=st.sampled_from(["honest", "honest", "honest", "forged", "unknown root"]),
        )
        def claim(self, pick: int, who: Any, variant: str) -> None:
            root, issuer, tree, bill = self.pick_anchored(pick)
            self.touch_bill(issuer, bill.ref)
            if variant == "unknown root":
                root = keccak(b"never anchored" + root)
            content = FORGED if variant == "forged" else bill.content_hash
            key = (issuer, bill.ref)
            call = (root, tree.proof(bill), bill.ref, content, ZERO32)
            if who == stranger or not self.is_active(who):
                with reverts(registry.AccessControlUnauthorizedAccount, account=who, neededRole=claimant_role):
                    registry.claim(*call, sender=who)
            elif variant == "unknown root":
                with reverts(registry.BillRootUnknown, root=root):
                    registry.claim(*call, sender=who)
            elif variant == "forged":
                with reverts(registry.BillProofInvalid, root=root, billRef=bill.ref, contentHash=FORGED):
                    registry.claim(*call, sender=who)
            elif expected := self.expect_settle_error(key):
                with reverts(expected[0], **expected[1]):
                    registry.claim(*call, sender=who)
            else:
                receipt = registry.claim(*call, sender=who)
                self.model.settlements[key] = Settled(CLAIMED, who.address, timestamp_of(receipt))
                self.model.claims[key] = self.model.claims.get(key, 0) + 1
                assert len(receipt.events.filter(registry.BillClaimed)) == 1

        @precondition(lambda self: self.model.anchors)
        @rule(pick=st.integers(0, 10**6), who=st.sampled_from(issuers), reason=st.sampled_from([0, 1, 2, 3, 4]))
        def void(self, pick: int, who: Any, reason: int) -> None:
            root, issuer, tree, bill = self.pick_anchored(pick)
            self.touch_bill(issuer, bill.ref)
            key = (issuer, bill.ref)
            call = (root, tree.proof(bill), bill.ref, bill.content_hash, reason, ZERO32)
            if not self.is_active(who):
                with reverts(registry.AccessControlUnauthorizedAccount, account=who, neededRole=issuer_role):
                    registry.voidBill(*call, sender=who)
            elif reason == 0:
                with reverts(registry.BillVoidReasonMissing):
                    registry.voidBill(*call, sender=who)
            elif issuer != who.address:
                with reverts(registry.BillNotIssuedBy, billRef=bill.ref, issuer=issuer, caller=who):
                    registry.voidBill(*call, sender=who)
            elif expected := self.expect_settle_error(key):
                with reverts(expected[0], **expected[1]):
                    registry.voidBill(*call, sender=who)
            else:
                receipt = registry.voidBill(*call, sender=who)
                self.model.settlements[key] = Settled(VOIDED, who.address, timestamp_of(receipt))

        # Few revocations a run, so most steps still have active organisations to act.
        @precondition(lambda self: self.revocations_tried < 3)
        @rule(who=st.sampled_from(organisations))
        def revoke(self, who: Any) -> None:
            self.revocations_tried += 1
            self.touched |= {root for root, (by, _, _) in self.model.anchors.items() if by == who.address}
            if not self.is_active(who):
                revoked_at = self.model.revoked_at[who.address]
                with reverts(registry.OrgAlreadyRevoked, account=who, revokedAt=revoked_at):
                    registry.revokeOrganisation(who, sender=admin)
            else:
                receipt = registry.revokeOrganisation(who, sender=admin)
                self.model.revoked_at[who.address] = timestamp_of(receipt)

        # ------------------------------------------------------------ invariants

        @invariant()
        def claimed_at_most_once(self) -> None:
            assert all(count == 1 for count in self.model.claims.values())

        @invariant()
        def statuses_only_move_forward(self) -> None:
            keys = {(issuer, bill.ref) for issuer, _, tree in self.model.anchors.values() for bill in tree.bills}
            for key in keys:
                status = registry.settlementOf(*key).status
                before = self.seen_status.get(key, UNKNOWN)
                assert status == before or before == UNKNOWN, f"{key}: {before} -> {status}"
                self.seen_status[key] = status

        @invariant()
        def roles_follow_registration(self) -> None:
            for org in issuers:
                assert registry.hasRole(issuer_role, org) == self.is_active(org)
            for org in claimants:
                assert registry.hasRole(claimant_role, org) == self.is_active(org)
            assert not registry.hasRole(issuer_role, stranger) and not registry.hasRole(claimant_role, stranger)

        @invariant()
        def verify_agrees_with_model(self) -> None:
            """Every bill under the roots a step touched (all roots at teardown) reads as the model says."""
            for root in self.touched & set(self.model.anchors):
                issuer, anchored_at, tree = self.model.anchors[root]
                for bill in tree.bills:
                    settled = self.model.settlements.get((issuer, bill.ref))
                    expected = (
                        settled.status if settled else ISSUED,
                        issuer,
                        anchored_at,
                        self.model.revoked_at.get(issuer, 0),
                        settled.by if settled else ZERO_ADDRESS,
                        settled.at if settled else 0,
                    )
                    assert registry.verify(root, tree.proof(bill), bill.ref, bill.content_hash) == expected
            self.touched.clear()

    run_state_machine_as_test(
        RegistryMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_registry_matches_model_under_random_operations(
    registry, admin, issuer, other_issuer, applicant, claimant, other_claimant, stranger
):
    # A third issuer, so voids and claims cross between more than two organisations.
    registry.registerOrganisation(applicant, "第三开票单位", CREDIT_CODE, KIND_ISSUER, sender=admin)

    run_machine(registry, admin, [issuer, other_issuer, applicant], [claimant, other_claimant], stranger)
