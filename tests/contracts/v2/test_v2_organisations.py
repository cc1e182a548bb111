"""Admission with proof of possession, credit-code uniqueness, key rotation and revocation."""

import pytest
from v2kit import (
    CLAIMANT_ID,
    ISSUER_ID,
    MAX_LOCK,
    OTHER_ISSUER_ID,
    ZERO32,
    OrgKind,
    Status,
    admission,
    admission_signer,
    assert_events,
    check_char,
    credit_code,
    deadline_in,
    fresh_account,
    make_bill,
    now,
    record,
    reverts,
    rotation,
    rotation_signer,
    timestamp_of,
    travel,
)

NAME = "北京市第二中学"


# ---------------------------------------------------------------- admission


@pytest.mark.nodes
def test_register_records_organisation_and_key(registry_v2, admin, applicant, roles_v2):
    request, signature = admission(registry_v2, applicant, NAME, credit_code(10), OrgKind.ISSUER)

    receipt = registry_v2.registerOrganisation(request, signature, sender=admin)

    org_id = registry_v2.organisationCount()
    assert org_id == 5
    assert registry_v2.organisation(org_id) == (
        NAME,
        credit_code(10),
        OrgKind.ISSUER,
        applicant.address,
        timestamp_of(receipt),
        0,
    )
    assert registry_v2.keyRecord(applicant) == (org_id, OrgKind.ISSUER, 0, 0)
    assert registry_v2.orgIdOfCreditCode(credit_code(10)) == org_id
    assert registry_v2.hasRole(roles_v2["issuer"], applicant)
    assert not registry_v2.hasRole(roles_v2["claimant"], applicant)
    assert_events(
        receipt,
        registry_v2.OrganisationRegistered(
            orgId=org_id, key=applicant, kind=OrgKind.ISSUER, name=NAME, creditCode=credit_code(10)
        ),
        registry_v2.RoleGranted(role=roles_v2["issuer"], account=applicant, sender=admin),
    )


@pytest.mark.nodes
def test_register_reverts_when_signed_by_another_key(registry_v2, admin, applicant, stranger):
    request, signature = admission(registry_v2, applicant, NAME, credit_code(10), OrgKind.ISSUER, signer=stranger)

    with reverts(registry_v2.OrgSignatureInvalid, expected=applicant, signer=stranger):
        registry_v2.registerOrganisation(request, signature, sender=admin)


def test_register_reverts_when_request_altered_after_signing(registry_v2, admin, applicant):
    request, signature = admission(registry_v2, applicant, NAME, credit_code(10), OrgKind.CLAIMANT)
    altered = (request[0], request[1], request[2], int(OrgKind.ISSUER), request[4])
    signer = admission_signer(registry_v2, altered, signature)
    assert signer != applicant.address

    with reverts(registry_v2.OrgSignatureInvalid, expected=applicant, signer=signer):
        registry_v2.registerOrganisation(altered, signature, sender=admin)


def test_register_reverts_when_signature_malformed(registry_v2, admin, applicant):
    request, signature = admission(registry_v2, applicant, NAME, credit_code(10), OrgKind.ISSUER)

    with reverts(registry_v2.OrgSignatureInvalid, expected=applicant, signer="0x" + "00" * 20):
        registry_v2.registerOrganisation(request, signature[:64], sender=admin)


@pytest.mark.nodes
def test_register_reverts_when_request_expired(registry_v2, admin, applicant):
    deadline = now() + 60
    request, signature = admission(registry_v2, applicant, NAME, credit_code(10), OrgKind.ISSUER, deadline=deadline)
    travel(120)

    with reverts(registry_v2.OrgRequestExpired, deadline=deadline):
        registry_v2.registerOrganisation(request, signature, sender=admin)


def test_register_reverts_when_signature_replayed(registry_v2, admin, applicant):
    request, signature = admission(registry_v2, applicant, NAME, credit_code(10), OrgKind.ISSUER)
    registry_v2.registerOrganisation(request, signature, sender=admin)

    with reverts(registry_v2.OrgKeyAlreadyUsed, key=applicant, orgId=5):
        registry_v2.registerOrganisation(request, signature, sender=admin)


def test_register_reverts_when_signed_for_another_registry(project, registry_v2, admin, applicant):
    other = project.BillRegistryV2.deploy(admin, 0, MAX_LOCK, sender=admin)
    request, signature = admission(other, applicant, NAME, credit_code(10), OrgKind.ISSUER)
    signer = admission_signer(registry_v2, request, signature)
    assert signer != applicant.address

    with reverts(registry_v2.OrgSignatureInvalid, expected=applicant, signer=signer):
        registry_v2.registerOrganisation(request, signature, sender=admin)


@pytest.mark.nodes
def test_register_reverts_when_credit_code_taken(registry_v2, admin, applicant):
    request, signature = admission(registry_v2, applicant, NAME, credit_code(1), OrgKind.ISSUER)

    with reverts(registry_v2.OrgCreditCodeTaken, creditCode=credit_code(1), orgId=ISSUER_ID):
        registry_v2.registerOrganisation(request, signature, sender=admin)


def test_register_reverts_when_credit_code_of_revoked_organisation(registry_v2, admin, applicant):
    registry_v2.revokeOrganisation(ISSUER_ID, sender=admin)
    request, signature = admission(registry_v2, applicant, NAME, credit_code(1), OrgKind.ISSUER)

    with reverts(registry_v2.OrgCreditCodeTaken, creditCode=credit_code(1), orgId=ISSUER_ID):
        registry_v2.registerOrganisation(request, signature, sender=admin)


def test_register_reverts_when_key_already_admitted(registry_v2, admin, issuer):
    request, signature = admission(registry_v2, issuer, NAME, credit_code(10), OrgKind.CLAIMANT)

    with reverts(registry_v2.OrgKeyAlreadyUsed, key=issuer, orgId=ISSUER_ID):
        registry_v2.registerOrganisation(request, signature, sender=admin)


@pytest.mark.parametrize(
    "code",
    [
        credit_code(10)[:17],  # 17 characters
        credit_code(10) + "0",  # 19 characters
        credit_code(10).lower(),  # lower case: another spelling of the same code
        credit_code(10)[:17] + ("0" if credit_code(10)[17] != "0" else "1"),  # wrong check character
        "9111000000000001I" + "0",  # I is not in the alphabet
        "",
    ],
)
def test_register_reverts_when_credit_code_invalid(registry_v2, admin, applicant, code):
    request, signature = admission(registry_v2, applicant, NAME, code, OrgKind.ISSUER)

    with reverts(registry_v2.OrgCreditCodeInvalid, creditCode=code):
        registry_v2.registerOrganisation(request, signature, sender=admin)


def test_register_accepts_letters_in_credit_code(registry_v2, admin, applicant):
    first17 = "91110000MA01ABCD2"
    code = first17 + check_char(first17)
    request, signature = admission(registry_v2, applicant, NAME, code, OrgKind.ISSUER)

    registry_v2.registerOrganisation(request, signature, sender=admin)

    assert registry_v2.orgIdOfCreditCode(code) == 5


def test_register_reverts_when_name_empty(registry_v2, admin, applicant):
    request, signature = admission(registry_v2, applicant, "", credit_code(10), OrgKind.ISSUER)

    with reverts(registry_v2.OrgNameEmpty):
        registry_v2.registerOrganisation(request, signature, sender=admin)


def test_register_reverts_when_kind_none(registry_v2, admin, applicant):
    request, signature = admission(registry_v2, applicant, NAME, credit_code(10), OrgKind.NONE)

    with reverts(registry_v2.OrgKindInvalid, kind=OrgKind.NONE):
        registry_v2.registerOrganisation(request, signature, sender=admin)


# ---------------------------------------------------------------- revocation


@pytest.mark.nodes
def test_revoke_records_cut_off_and_disables_key(registry_v2, admin, issuer, roles_v2):
    receipt = registry_v2.revokeOrganisation(ISSUER_ID, sender=admin)

    at = timestamp_of(receipt)
    assert registry_v2.organisation(ISSUER_ID).revokedAt == at
    assert registry_v2.keyRecord(issuer) == (ISSUER_ID, OrgKind.ISSUER, 0, at)
    assert not registry_v2.hasRole(roles_v2["issuer"], issuer)
    assert_events(
        receipt,
        registry_v2.OrganisationRevoked(orgId=ISSUER_ID, key=issuer, revokedAt=at),
        registry_v2.RoleRevoked(role=roles_v2["issuer"], account=issuer, sender=admin),
    )


def test_revoke_reverts_when_already_revoked(registry_v2, admin):
    first = registry_v2.revokeOrganisation(ISSUER_ID, sender=admin)

    with reverts(registry_v2.OrgAlreadyRevoked, orgId=ISSUER_ID, revokedAt=timestamp_of(first)):
        registry_v2.revokeOrganisation(ISSUER_ID, sender=admin)


@pytest.mark.parametrize("org_id", [0, 99])
def test_revoke_reverts_when_not_registered(registry_v2, admin, org_id):
    with reverts(registry_v2.OrgNotRegistered, orgId=org_id):
        registry_v2.revokeOrganisation(org_id, sender=admin)


def test_bills_of_revoked_issuer_still_verify_and_claim(registry_v2, batch_v2, bill_v2, admin, claimant):
    revoked = registry_v2.revokeOrganisation(ISSUER_ID, sender=admin)

    assert record(registry_v2, ISSUER_ID, batch_v2, bill_v2).issuerRevokedAt == timestamp_of(revoked)
    registry_v2.claim(ISSUER_ID, *batch_v2.args(bill_v2), 0, ZERO32, sender=claimant)
    assert record(registry_v2, ISSUER_ID, batch_v2, bill_v2).status == Status.REIMBURSED


# ---------------------------------------------------------------- key rotation


@pytest.fixture
def new_key(admin):
    return fresh_account(admin)


@pytest.mark.nodes
def test_rotate_moves_organisation_to_new_key(registry_v2, admin, issuer, new_key, roles_v2):
    request, signature = rotation(registry_v2, ISSUER_ID, new_key)

    receipt = registry_v2.rotateKey(request, signature, sender=admin)

    at = timestamp_of(receipt)
    assert registry_v2.organisation(ISSUER_ID).key == new_key.address
    assert registry_v2.keyRecord(issuer) == (ISSUER_ID, OrgKind.ISSUER, at, 0)
    assert registry_v2.keyRecord(new_key) == (ISSUER_ID, OrgKind.ISSUER, 0, 0)
    assert registry_v2.hasRole(roles_v2["issuer"], new_key)
    assert not registry_v2.hasRole(roles_v2["issuer"], issuer)
    assert_events(
        receipt,
        registry_v2.OrganisationKeyRotated(orgId=ISSUER_ID, oldKey=issuer, newKey=new_key),
        registry_v2.RoleRevoked(role=roles_v2["issuer"], account=issuer, sender=admin),
        registry_v2.RoleGranted(role=roles_v2["issuer"], account=new_key, sender=admin),
    )


@pytest.mark.nodes
def test_bills_anchored_under_old_key_verify_as_organisation_after_rotation(
    registry_v2, batch_v2, bill_v2, admin, issuer, new_key
):
    anchored_at = registry_v2.anchorOf(ISSUER_ID, batch_v2.root).anchoredAt
    receipt = registry_v2.rotateKey(*rotation(registry_v2, ISSUER_ID, new_key), sender=admin)

    got = record(registry_v2, ISSUER_ID, batch_v2, bill_v2)

    assert (got.status, got.issuerId, got.anchoredBy, got.anchoredAt) == (
        Status.ISSUED,
        ISSUER_ID,
        issuer.address,
        anchored_at,
    )
    assert got.anchorKeyRotatedAt == timestamp_of(receipt)


def test_new_key_acts_on_bills_of_old_key(registry_v2, batch_v2, bill_v2, admin, new_key):
    registry_v2.rotateKey(*rotation(registry_v2, ISSUER_ID, new_key), sender=admin)

    registry_v2.voidBill(*batch_v2.args(bill_v2), 1, ZERO32, sender=new_key)

    got = record(registry_v2, ISSUER_ID, batch_v2, bill_v2)
    assert (got.status, got.lastSettledBy) == (Status.VOIDED, ISSUER_ID)


def test_new_key_cannot_reanchor_root_of_old_key(registry_v2, batch_v2, admin, issuer, new_key):
    anchored_at = registry_v2.anchorOf(ISSUER_ID, batch_v2.root).anchoredAt
    registry_v2.rotateKey(*rotation(registry_v2, ISSUER_ID, new_key), sender=admin)

    with reverts(
        registry_v2.BillRootAlreadyAnchored, issuerId=ISSUER_ID, root=batch_v2.root, key=issuer, anchoredAt=anchored_at
    ):
        registry_v2.anchor(batch_v2.root, sender=new_key)


@pytest.mark.nodes
def test_claim_after_claimant_rotation_cannot_claim_again(registry_v2, batch_v2, bill_v2, admin, claimant, new_key):
    first = registry_v2.claim(ISSUER_ID, *batch_v2.args(bill_v2), 0, ZERO32, sender=claimant)
    registry_v2.rotateKey(*rotation(registry_v2, CLAIMANT_ID, new_key), sender=admin)

    with reverts(registry_v2.BillAlreadyReimbursed, billRef=bill_v2.ref, by=CLAIMANT_ID, at=timestamp_of(first)):
        registry_v2.claim(ISSUER_ID, *batch_v2.args(bill_v2), 0, ZERO32, sender=new_key)


def test_lock_survives_claimant_rotation(registry_v2, batch_v2, bill_v2, admin, claimant, new_key):
    until = now() + 3600
    registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), until, sender=claimant)
    registry_v2.rotateKey(*rotation(registry_v2, CLAIMANT_ID, new_key), sender=admin)

    registry_v2.claim(ISSUER_ID, *batch_v2.args(bill_v2), 0, ZERO32, sender=new_key)

    got = record(registry_v2, ISSUER_ID, batch_v2, bill_v2)
    assert (got.status, got.lastSettledBy, got.lockHolderId) == (Status.REIMBURSED, CLAIMANT_ID, 0)


@pytest.mark.parametrize("role", ["issuer", "claimant"])
def test_rotated_key_can_do_nothing(request, registry_v2, batch_v2, bill_v2, admin, new_key, roles_v2, role):
    old = request.getfixturevalue(role)
    org_id = ISSUER_ID if role == "issuer" else CLAIMANT_ID
    until = now() + 3600
    if role == "claimant":
        registry_v2.lock(ISSUER_ID, *batch_v2.args(batch_v2.bills[1]), until, sender=old)
    registry_v2.rotateKey(*rotation(registry_v2, org_id, new_key), sender=admin)
    calls = {
        "anchor": lambda: registry_v2.anchor(make_bill("after-rotation").leaf, sender=old),
        "voidBill": lambda: registry_v2.voidBill(*batch_v2.args(bill_v2), 1, ZERO32, sender=old),
        "convertToPaper": lambda: registry_v2.convertToPaper(*batch_v2.args(bill_v2), b"P" * 32, sender=old),
        "lock": lambda: registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), until, sender=old),
        "claim": lambda: registry_v2.claim(ISSUER_ID, *batch_v2.args(bill_v2), 0, ZERO32, sender=old),
        "release": lambda: registry_v2.release(ISSUER_ID, batch_v2.bills[1].ref, sender=old),
    }
    for name, call in calls.items():
        needed = roles_v2["issuer"] if name in ("anchor", "voidBill", "convertToPaper") else roles_v2["claimant"]
        with reverts(registry_v2.AccessControlUnauthorizedAccount, account=old, neededRole=needed):
            call()


def test_rotate_reverts_when_signed_by_another_key(registry_v2, admin, new_key, stranger):
    request, signature = rotation(registry_v2, ISSUER_ID, new_key, signer=stranger)

    with reverts(registry_v2.OrgSignatureInvalid, expected=new_key, signer=stranger):
        registry_v2.rotateKey(request, signature, sender=admin)


def test_rotate_reverts_when_signed_for_another_organisation(registry_v2, admin, new_key):
    _, signature = rotation(registry_v2, OTHER_ISSUER_ID, new_key)
    request = (ISSUER_ID, new_key.address, deadline_in())
    signer = rotation_signer(registry_v2, request, signature)
    assert signer != new_key.address

    with reverts(registry_v2.OrgSignatureInvalid, expected=new_key, signer=signer):
        registry_v2.rotateKey(request, signature, sender=admin)


def test_rotate_reverts_when_request_expired(registry_v2, admin, new_key):
    deadline = now() + 60
    request, signature = rotation(registry_v2, ISSUER_ID, new_key, deadline=deadline)
    travel(120)

    with reverts(registry_v2.OrgRequestExpired, deadline=deadline):
        registry_v2.rotateKey(request, signature, sender=admin)


def test_rotate_reverts_when_new_key_already_used(registry_v2, admin, other_issuer):
    request, signature = rotation(registry_v2, ISSUER_ID, other_issuer)

    with reverts(registry_v2.OrgKeyAlreadyUsed, key=other_issuer, orgId=OTHER_ISSUER_ID):
        registry_v2.rotateKey(request, signature, sender=admin)


def test_rotate_reverts_when_rotating_back_to_old_key(registry_v2, admin, issuer, new_key):
    registry_v2.rotateKey(*rotation(registry_v2, ISSUER_ID, new_key), sender=admin)

    with reverts(registry_v2.OrgKeyAlreadyUsed, key=issuer, orgId=ISSUER_ID):
        registry_v2.rotateKey(*rotation(registry_v2, ISSUER_ID, issuer), sender=admin)


def test_rotate_reverts_when_replayed(registry_v2, admin, new_key):
    request, signature = rotation(registry_v2, ISSUER_ID, new_key)
    registry_v2.rotateKey(request, signature, sender=admin)

    with reverts(registry_v2.OrgKeyAlreadyUsed, key=new_key, orgId=ISSUER_ID):
        registry_v2.rotateKey(request, signature, sender=admin)


def test_rotate_reverts_when_organisation_revoked(registry_v2, admin, new_key):
    revoked = registry_v2.revokeOrganisation(ISSUER_ID, sender=admin)

    with reverts(registry_v2.OrgAlreadyRevoked, orgId=ISSUER_ID, revokedAt=timestamp_of(revoked)):
        registry_v2.rotateKey(*rotation(registry_v2, ISSUER_ID, new_key), sender=admin)


def test_rotate_reverts_when_organisation_unknown(registry_v2, admin, new_key):
    with reverts(registry_v2.OrgNotRegistered, orgId=42):
        registry_v2.rotateKey(*rotation(registry_v2, 42, new_key), sender=admin)


def test_revoke_after_rotation_disables_new_key(registry_v2, admin, issuer, new_key, roles_v2):
    registry_v2.rotateKey(*rotation(registry_v2, ISSUER_ID, new_key), sender=admin)

    receipt = registry_v2.revokeOrganisation(ISSUER_ID, sender=admin)

    assert registry_v2.keyRecord(new_key).revokedAt == timestamp_of(receipt)
    assert registry_v2.keyRecord(issuer).revokedAt == 0
    assert not registry_v2.hasRole(roles_v2["issuer"], new_key)
