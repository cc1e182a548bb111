"""registerOrganisation / revokeOrganisation: the finance department admits and revokes organisations."""

import pytest
from registry_testkit import (
    CREDIT_CODE,
    KIND_CLAIMANT,
    KIND_ISSUER,
    KIND_NONE,
    ZERO_ADDRESS,
    assert_events,
    reverts,
    timestamp_of,
)

NAME = "上海市第三人民医院"


@pytest.mark.nodes
def test_register_records_organisation(registry, admin, applicant):
    receipt = registry.registerOrganisation(applicant, NAME, CREDIT_CODE, KIND_ISSUER, sender=admin)

    org = registry.organisation(applicant)
    assert (org.name, org.creditCode, org.kind) == (NAME, CREDIT_CODE, KIND_ISSUER)
    assert org.registeredAt == timestamp_of(receipt)
    assert org.revokedAt == 0


@pytest.mark.parametrize(("kind", "role_name"), [(KIND_ISSUER, "ISSUER_ROLE"), (KIND_CLAIMANT, "CLAIMANT_ROLE")])
def test_register_grants_role_of_kind(registry, admin, applicant, kind, role_name):
    registry.registerOrganisation(applicant, NAME, CREDIT_CODE, kind, sender=admin)

    assert registry.hasRole(getattr(registry, role_name)(), applicant)


def test_register_grants_only_role_of_kind(registry, admin, applicant, claimant_role, admin_role):
    registry.registerOrganisation(applicant, NAME, CREDIT_CODE, KIND_ISSUER, sender=admin)

    assert not registry.hasRole(claimant_role, applicant)
    assert not registry.hasRole(admin_role, applicant)


def test_register_emits_role_granted_and_organisation_registered(registry, admin, applicant, claimant_role):
    receipt = registry.registerOrganisation(applicant, NAME, CREDIT_CODE, KIND_CLAIMANT, sender=admin)

    assert_events(
        receipt,
        registry.RoleGranted(role=claimant_role, account=applicant, sender=admin),
        registry.OrganisationRegistered(account=applicant, kind=KIND_CLAIMANT, name=NAME, creditCode=CREDIT_CODE),
    )


def test_register_reverts_when_already_registered(registry, admin, issuer):
    with reverts(registry.OrgAlreadyRegistered, account=issuer):
        registry.registerOrganisation(issuer, NAME, CREDIT_CODE, KIND_ISSUER, sender=admin)


def test_register_reverts_when_registered_under_other_kind(registry, admin, issuer):
    with reverts(registry.OrgAlreadyRegistered, account=issuer):
        registry.registerOrganisation(issuer, NAME, CREDIT_CODE, KIND_CLAIMANT, sender=admin)


def test_register_reverts_when_revoked_organisation_comes_back(registry, admin, issuer):
    registry.revokeOrganisation(issuer, sender=admin)

    with reverts(registry.OrgAlreadyRegistered, account=issuer):
        registry.registerOrganisation(issuer, NAME, CREDIT_CODE, KIND_ISSUER, sender=admin)


def test_register_reverts_when_kind_is_none(registry, admin, applicant):
    with reverts(registry.OrgKindInvalid, kind=KIND_NONE):
        registry.registerOrganisation(applicant, NAME, CREDIT_CODE, KIND_NONE, sender=admin)


def test_register_reverts_when_name_is_empty(registry, admin, applicant):
    with reverts(registry.OrgNameEmpty):
        registry.registerOrganisation(applicant, "", CREDIT_CODE, KIND_ISSUER, sender=admin)


@pytest.mark.parametrize(
    "credit_code", ["", CREDIT_CODE[:17], CREDIT_CODE + "0", "统一社会信用代码一二三四五六七八九十"]
)
def test_register_reverts_when_credit_code_is_not_18_bytes(registry, admin, applicant, credit_code):
    with reverts(registry.OrgCreditCodeInvalid, creditCode=credit_code):
        registry.registerOrganisation(applicant, NAME, credit_code, KIND_ISSUER, sender=admin)


def test_register_leaves_no_record_when_it_reverts(registry, admin, applicant, issuer_role):
    with reverts(registry.OrgNameEmpty):
        registry.registerOrganisation(applicant, "", CREDIT_CODE, KIND_ISSUER, sender=admin)

    assert registry.organisation(applicant).kind == KIND_NONE
    assert not registry.hasRole(issuer_role, applicant)


def test_organisation_of_unregistered_account_is_empty(registry, stranger):
    assert registry.organisation(stranger) == ("", "", KIND_NONE, 0, 0)


@pytest.mark.nodes
def test_revoke_records_cut_off_and_removes_role(registry, admin, issuer, issuer_role):
    receipt = registry.revokeOrganisation(issuer, sender=admin)

    assert registry.organisation(issuer).revokedAt == timestamp_of(receipt)
    assert not registry.hasRole(issuer_role, issuer)


def test_revoke_keeps_name_kind_and_registration_time(registry, admin, claimant):
    before = registry.organisation(claimant)

    registry.revokeOrganisation(claimant, sender=admin)

    after = registry.organisation(claimant)
    assert (after.name, after.creditCode, after.kind, after.registeredAt) == (
        before.name,
        before.creditCode,
        before.kind,
        before.registeredAt,
    )


def test_revoke_emits_role_revoked_and_organisation_revoked(registry, admin, claimant, claimant_role):
    receipt = registry.revokeOrganisation(claimant, sender=admin)

    assert_events(
        receipt,
        registry.RoleRevoked(role=claimant_role, account=claimant, sender=admin),
        registry.OrganisationRevoked(account=claimant, revokedAt=timestamp_of(receipt)),
    )


def test_revoke_reverts_when_not_registered(registry, admin, stranger):
    with reverts(registry.OrgNotRegistered, account=stranger):
        registry.revokeOrganisation(stranger, sender=admin)


def test_revoke_reverts_when_zero_address(registry, admin):
    with reverts(registry.OrgNotRegistered, account=ZERO_ADDRESS):
        registry.revokeOrganisation(ZERO_ADDRESS, sender=admin)


def test_revoke_reverts_when_already_revoked(registry, admin, issuer):
    first = registry.revokeOrganisation(issuer, sender=admin)

    with reverts(registry.OrgAlreadyRevoked, account=issuer, revokedAt=timestamp_of(first)):
        registry.revokeOrganisation(issuer, sender=admin)
