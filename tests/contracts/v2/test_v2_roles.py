"""Access control: every gated v2 function with every wrong role; org roles follow the key records; the finance
admin role changes hands in two steps with a delay (OpenZeppelin AccessControlDefaultAdminRules)."""

import pytest
from v2kit import (
    ADMIN_DELAY,
    ISSUER_ID,
    MAX_LOCK,
    ZERO32,
    OrgKind,
    admission,
    credit_code,
    fresh_account,
    make_bill,
    now,
    reverts,
    rotation,
    timestamp_of,
    travel,
)

# Each gated call with arguments that would succeed for the right role, so only the role can fail it.
CALLS = {
    "registerOrganisation": lambda r, f, s: r.registerOrganisation(
        *admission(r, f["applicant"], "新单位", credit_code(10), OrgKind.ISSUER), sender=s
    ),
    "rotateKey": lambda r, f, s: r.rotateKey(*rotation(r, ISSUER_ID, f["new_key"]), sender=s),
    "revokeOrganisation": lambda r, f, s: r.revokeOrganisation(ISSUER_ID, sender=s),
    "anchor": lambda r, f, s: r.anchor(make_bill("fresh").leaf, sender=s),
    "voidBill": lambda r, f, s: r.voidBill(*f["tree"].args(f["bill"]), 2, ZERO32, sender=s),
    "convertToPaper": lambda r, f, s: r.convertToPaper(*f["tree"].args(f["bill"]), b"P" * 32, sender=s),
    "lock": lambda r, f, s: r.lock(ISSUER_ID, *f["tree"].args(f["bill"]), now() + 3600, sender=s),
    "release": lambda r, f, s: r.release(ISSUER_ID, f["locked"].ref, sender=s),
    "claim": lambda r, f, s: r.claim(ISSUER_ID, *f["tree"].args(f["bill"]), 0, ZERO32, sender=s),
}
NEEDED = {
    "registerOrganisation": "admin",
    "rotateKey": "admin",
    "revokeOrganisation": "admin",
    "anchor": "issuer",
    "voidBill": "issuer",
    "convertToPaper": "issuer",
    "lock": "claimant",
    "release": "claimant",
    "claim": "claimant",
}
WRONG = {"admin": ["issuer", "claimant", "stranger"], "issuer": ["admin", "claimant", "stranger"]}
WRONG["claimant"] = ["admin", "issuer", "stranger"]
CASES = [(fn, caller) for fn, role in NEEDED.items() for caller in WRONG[role]]


@pytest.fixture
def fixtures(request, registry_v2, batch_v2, claimant, admin):
    """Accounts, a bill, and a bill `claimant` holds a live lock on, by name."""
    locked = batch_v2.bills[1]
    registry_v2.lock(ISSUER_ID, *batch_v2.args(locked), now() + 3600, sender=claimant)
    names = ["admin", "issuer", "claimant", "stranger", "applicant"]
    return {n: request.getfixturevalue(n) for n in names} | {
        "tree": batch_v2,
        "bill": batch_v2.bills[0],
        "locked": locked,
        "new_key": fresh_account(admin),
    }


@pytest.mark.parametrize(("function", "caller"), CASES)
def test_gated_function_reverts_for_wrong_role(registry_v2, roles_v2, fixtures, function, caller):
    sender = fixtures[caller]

    with reverts(registry_v2.AccessControlUnauthorizedAccount, account=sender, neededRole=roles_v2[NEEDED[function]]):
        CALLS[function](registry_v2, fixtures, sender)


@pytest.mark.parametrize("function", ["anchor", "voidBill", "convertToPaper"])
def test_issuer_function_reverts_after_issuer_revoked(registry_v2, roles_v2, fixtures, admin, issuer, function):
    registry_v2.revokeOrganisation(ISSUER_ID, sender=admin)

    with reverts(registry_v2.AccessControlUnauthorizedAccount, account=issuer, neededRole=roles_v2["issuer"]):
        CALLS[function](registry_v2, fixtures, issuer)


@pytest.mark.parametrize("function", ["lock", "release", "claim"])
@pytest.mark.nodes
def test_claimant_function_reverts_after_claimant_revoked(registry_v2, roles_v2, fixtures, admin, claimant, function):
    registry_v2.revokeOrganisation(3, sender=admin)

    with reverts(registry_v2.AccessControlUnauthorizedAccount, account=claimant, neededRole=roles_v2["claimant"]):
        CALLS[function](registry_v2, fixtures, claimant)


# ---------------------------------------------------------------- org roles are the key records


@pytest.mark.parametrize("role", ["issuer", "claimant"])
@pytest.mark.parametrize("function", ["grantRole", "revokeRole"])
def test_org_role_cannot_be_granted_or_revoked_bare_even_by_admin(
    registry_v2, roles_v2, admin, issuer, claimant, role, function
):
    account = issuer if role == "issuer" else claimant

    with reverts(registry_v2.OrgRoleManagedByRegistry, role=roles_v2[role]):
        getattr(registry_v2, function)(roles_v2[role], account, sender=admin)

    assert registry_v2.hasRole(roles_v2[role], account)


@pytest.mark.parametrize("role", ["issuer", "claimant"])
def test_org_role_cannot_be_renounced(registry_v2, roles_v2, issuer, claimant, role):
    account = issuer if role == "issuer" else claimant

    with reverts(registry_v2.OrgRoleManagedByRegistry, role=roles_v2[role]):
        registry_v2.renounceRole(roles_v2[role], account, sender=account)


def test_org_roles_follow_key_records(registry_v2, roles_v2, admin, issuer, other_issuer, claimant, stranger):
    assert registry_v2.hasRole(roles_v2["issuer"], issuer) and registry_v2.hasRole(roles_v2["issuer"], other_issuer)
    assert registry_v2.hasRole(roles_v2["claimant"], claimant)
    assert not registry_v2.hasRole(roles_v2["claimant"], issuer)
    assert not registry_v2.hasRole(roles_v2["issuer"], admin)
    assert not any(registry_v2.hasRole(roles_v2[r], stranger) for r in roles_v2)


def test_ordinary_role_can_still_be_granted_by_admin(registry_v2, admin, stranger):
    role = b"\x42" * 32

    registry_v2.grantRole(role, stranger, sender=admin)

    assert registry_v2.hasRole(role, stranger)


# ---------------------------------------------------------------- two-step admin transfer with a delay


def test_admin_role_cannot_be_granted_directly(registry_v2, roles_v2, admin, successor):
    with reverts(registry_v2.AccessControlEnforcedDefaultAdminRules):
        registry_v2.grantRole(roles_v2["admin"], successor, sender=admin)


@pytest.mark.nodes
def test_admin_transfer_takes_two_steps_and_the_delay(registry_v2, roles_v2, admin, successor, applicant):
    receipt = registry_v2.beginDefaultAdminTransfer(successor, sender=admin)
    schedule = timestamp_of(receipt) + ADMIN_DELAY
    assert registry_v2.pendingDefaultAdmin() == (successor.address, schedule)

    with reverts(registry_v2.AccessControlEnforcedDefaultAdminDelay, schedule=schedule):
        registry_v2.acceptDefaultAdminTransfer(sender=successor)
    travel(ADMIN_DELAY + 1)
    registry_v2.acceptDefaultAdminTransfer(sender=successor)

    assert registry_v2.defaultAdmin() == successor.address
    assert not registry_v2.hasRole(roles_v2["admin"], admin)
    registry_v2.registerOrganisation(
        *admission(registry_v2, applicant, "新单位", credit_code(10), OrgKind.ISSUER), sender=successor
    )
    with reverts(registry_v2.AccessControlUnauthorizedAccount, account=admin, neededRole=roles_v2["admin"]):
        registry_v2.revokeOrganisation(ISSUER_ID, sender=admin)


def test_admin_transfer_accepted_only_by_pending_admin(registry_v2, admin, successor, stranger):
    registry_v2.beginDefaultAdminTransfer(successor, sender=admin)
    travel(ADMIN_DELAY + 1)

    with reverts(registry_v2.AccessControlInvalidDefaultAdmin, defaultAdmin=stranger):
        registry_v2.acceptDefaultAdminTransfer(sender=stranger)


@pytest.mark.parametrize("caller", ["issuer", "claimant", "stranger"])
def test_admin_transfer_begins_only_by_admin(request, registry_v2, roles_v2, successor, caller):
    sender = request.getfixturevalue(caller)

    with reverts(registry_v2.AccessControlUnauthorizedAccount, account=sender, neededRole=roles_v2["admin"]):
        registry_v2.beginDefaultAdminTransfer(successor, sender=sender)


def test_admin_transfer_can_be_cancelled(registry_v2, admin, successor):
    registry_v2.beginDefaultAdminTransfer(successor, sender=admin)
    registry_v2.cancelDefaultAdminTransfer(sender=admin)
    travel(ADMIN_DELAY + 1)

    with reverts(registry_v2.AccessControlInvalidDefaultAdmin, defaultAdmin=successor):
        registry_v2.acceptDefaultAdminTransfer(sender=successor)


# ---------------------------------------------------------------- deployment


def test_deploy_sets_admin_delay_and_lock_maximum(registry_v2, admin):
    assert registry_v2.defaultAdmin() == admin.address
    assert registry_v2.defaultAdminDelay() == ADMIN_DELAY
    assert registry_v2.maxLockDuration() == MAX_LOCK


@pytest.mark.parametrize("max_lock", [0, 365 * 24 * 3600 + 1])
def test_deploy_reverts_when_lock_maximum_invalid(project, admin, max_lock):
    with reverts(project.BillRegistryV2.RegistryMaxLockDurationInvalid, maxLockDuration=max_lock):
        project.BillRegistryV2.deploy(admin, ADMIN_DELAY, max_lock, sender=admin)


def test_eip712_domain_names_this_registry(registry_v2, chain):
    domain = registry_v2.eip712Domain()

    assert (domain.name, domain.version, domain.chainId, domain.verifyingContract) == (
        "BillRegistry",
        "2",
        chain.chain_id,
        registry_v2.address,
    )


def test_supports_v2_and_access_control_interfaces(registry_v2):
    assert registry_v2.supportsInterface(bytes.fromhex("7965db0b"))  # IAccessControl
    assert registry_v2.supportsInterface(bytes.fromhex("01ffc9a7"))  # IERC165
    assert not registry_v2.supportsInterface(bytes.fromhex("ffffffff"))
