"""Access control: every gated function with every wrong role; org roles move only via register/revoke."""

import pytest
from registry_testkit import CREDIT_CODE, KIND_ISSUER, ZERO32, MerkleTree, make_bill, reverts

# Each gated call with arguments that would succeed for the right role, so only the role can fail it.
CALLS = {
    "registerOrganisation": lambda r, f, sender: r.registerOrganisation(
        f["applicant"], "新单位", CREDIT_CODE, KIND_ISSUER, sender=sender
    ),
    "revokeOrganisation": lambda r, f, sender: r.revokeOrganisation(f["issuer"], sender=sender),
    "anchor": lambda r, f, sender: r.anchor(MerkleTree([make_bill("fresh")]).root, sender=sender),
    "voidBill": lambda r, f, sender: r.voidBill(*f["batch"].args(f["bill"]), 2, ZERO32, sender=sender),
    "claim": lambda r, f, sender: r.claim(*f["batch"].args(f["bill"]), ZERO32, sender=sender),
}
NEEDED = {
    "registerOrganisation": "DEFAULT_ADMIN_ROLE",
    "revokeOrganisation": "DEFAULT_ADMIN_ROLE",
    "anchor": "ISSUER_ROLE",
    "voidBill": "ISSUER_ROLE",
    "claim": "CLAIMANT_ROLE",
}
WRONG_CALLERS = {
    "registerOrganisation": ["issuer", "claimant", "stranger"],
    "revokeOrganisation": ["issuer", "claimant", "stranger"],
    "anchor": ["admin", "claimant", "stranger"],
    "voidBill": ["admin", "claimant", "stranger"],
    "claim": ["admin", "issuer", "stranger"],
}
CASES = [(fn, caller) for fn, callers in WRONG_CALLERS.items() for caller in callers]


@pytest.fixture
def fixtures(request, batch, bill):
    """The accounts and the anchored batch the gated calls need, by name."""
    names = ["admin", "issuer", "claimant", "stranger", "applicant"]
    return {name: request.getfixturevalue(name) for name in names} | {"batch": batch, "bill": bill}


@pytest.mark.parametrize(("function", "caller"), CASES)
def test_gated_function_reverts_for_wrong_role(registry, fixtures, function, caller):
    sender = fixtures[caller]

    with reverts(
        registry.AccessControlUnauthorizedAccount,
        account=sender,
        neededRole=getattr(registry, NEEDED[function])(),
    ):
        CALLS[function](registry, fixtures, sender)


@pytest.mark.parametrize("function", ["anchor", "voidBill"])
@pytest.mark.nodes
def test_issuer_function_reverts_after_issuer_revoked(registry, fixtures, admin, issuer, issuer_role, function):
    registry.revokeOrganisation(issuer, sender=admin)

    with reverts(registry.AccessControlUnauthorizedAccount, account=issuer, neededRole=issuer_role):
        CALLS[function](registry, fixtures, issuer)


def test_claim_reverts_after_claimant_revoked(registry, fixtures, admin, claimant, claimant_role):
    registry.revokeOrganisation(claimant, sender=admin)

    with reverts(registry.AccessControlUnauthorizedAccount, account=claimant, neededRole=claimant_role):
        CALLS["claim"](registry, fixtures, claimant)


def test_issuer_cannot_claim_its_own_bill(registry, batch, bill, issuer, claimant_role):
    with reverts(registry.AccessControlUnauthorizedAccount, account=issuer, neededRole=claimant_role):
        registry.claim(*batch.args(bill), ZERO32, sender=issuer)


# ---------------------------------------------------------------- org roles are managed by the registry


@pytest.mark.parametrize("role_name", ["ISSUER_ROLE", "CLAIMANT_ROLE"])
def test_grant_role_reverts_for_org_role_even_for_admin(registry, admin, stranger, role_name):
    role = getattr(registry, role_name)()

    with reverts(registry.OrgRoleManagedByRegistry, role=role):
        registry.grantRole(role, stranger, sender=admin)


@pytest.mark.parametrize(("role_name", "holder"), [("ISSUER_ROLE", "issuer"), ("CLAIMANT_ROLE", "claimant")])
def test_revoke_role_reverts_for_org_role_even_for_admin(request, registry, admin, role_name, holder):
    role, account = getattr(registry, role_name)(), request.getfixturevalue(holder)

    with reverts(registry.OrgRoleManagedByRegistry, role=role):
        registry.revokeRole(role, account, sender=admin)

    assert registry.hasRole(role, account)


@pytest.mark.parametrize(("role_name", "holder"), [("ISSUER_ROLE", "issuer"), ("CLAIMANT_ROLE", "claimant")])
def test_renounce_role_reverts_for_org_role(request, registry, role_name, holder):
    role, account = getattr(registry, role_name)(), request.getfixturevalue(holder)

    with reverts(registry.OrgRoleManagedByRegistry, role=role):
        registry.renounceRole(role, account, sender=account)

    assert registry.hasRole(role, account)


@pytest.mark.parametrize("role_name", ["ISSUER_ROLE", "CLAIMANT_ROLE"])
def test_grant_role_reverts_for_org_role_before_checking_caller(registry, stranger, role_name):
    role = getattr(registry, role_name)()

    with reverts(registry.OrgRoleManagedByRegistry, role=role):
        registry.grantRole(role, stranger, sender=stranger)


# ---------------------------------------------------------------- the finance admin role itself


@pytest.mark.parametrize("caller", ["issuer", "claimant", "stranger"])
def test_grant_admin_role_reverts_for_non_admin(request, registry, admin_role, caller):
    sender = request.getfixturevalue(caller)

    with reverts(registry.AccessControlUnauthorizedAccount, account=sender, neededRole=admin_role):
        registry.grantRole(admin_role, sender, sender=sender)


@pytest.mark.parametrize("caller", ["issuer", "claimant", "stranger"])
def test_revoke_admin_role_reverts_for_non_admin(request, registry, admin, admin_role, caller):
    sender = request.getfixturevalue(caller)

    with reverts(registry.AccessControlUnauthorizedAccount, account=sender, neededRole=admin_role):
        registry.revokeRole(admin_role, admin, sender=sender)


def test_renounce_admin_role_reverts_for_other_account(registry, admin, stranger, admin_role):
    with reverts(registry.AccessControlBadConfirmation):
        registry.renounceRole(admin_role, admin, sender=stranger)


def test_admin_role_can_be_handed_over(registry, admin, stranger, applicant, admin_role):
    registry.grantRole(admin_role, stranger, sender=admin)
    registry.renounceRole(admin_role, admin, sender=admin)

    registry.registerOrganisation(applicant, "新单位", CREDIT_CODE, KIND_ISSUER, sender=stranger)

    assert registry.organisation(applicant).kind == KIND_ISSUER
    with reverts(registry.AccessControlUnauthorizedAccount, account=admin, neededRole=admin_role):
        registry.revokeOrganisation(applicant, sender=admin)


def test_deployer_given_as_finance_admin_holds_only_admin_role(registry, admin, admin_role, issuer_role):
    assert registry.hasRole(admin_role, admin)
    assert not registry.hasRole(issuer_role, admin)
    assert registry.getRoleAdmin(issuer_role) == admin_role


def test_deploy_grants_admin_role_to_given_finance_admin_not_deployer(project, admin, stranger):
    registry = project.BillRegistry.deploy(stranger, sender=admin)

    assert registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), stranger)
    assert not registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), admin)
