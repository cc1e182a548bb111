// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IBillRegistry} from "./IBillRegistry.sol";

/// @title BillRegistry
/// @notice See {IBillRegistry}. The finance department holds DEFAULT_ADMIN_ROLE; invoicing units hold
///         ISSUER_ROLE; reimbursing units hold CLAIMANT_ROLE. Org roles move only through register/revoke.
/// @dev Storage layout (one slot each, chosen so every hot path touches as few slots as possible):
///      - `_anchors[root]`              = anchoredAt (bits 160..223) | issuer (bits 0..159), one word
///        written whole: a struct assignment would write member by member and cost an extra SLOAD/SSTORE
///      - `_settlements[issuer][ref]`   = status (bits 224..231) | at (bits 160..223) | by (bits 0..159)
///      - `_organisations[account]`     = name, creditCode (own slots), then kind | registeredAt | revokedAt
contract BillRegistry is IBillRegistry, AccessControl {
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    bytes32 public constant CLAIMANT_ROLE = keccak256("CLAIMANT_ROLE");

    uint256 private constant _CREDIT_CODE_LENGTH = 18;

    mapping(bytes32 root => uint256 packedAnchor) private _anchors;
    mapping(address issuer => mapping(bytes32 billRef => uint256 packedSettlement)) private _settlements;
    mapping(address account => Organisation) private _organisations;

    /// @param financeAdmin The finance department's account, which admits and revokes organisations.
    constructor(address financeAdmin) {
        _grantRole(DEFAULT_ADMIN_ROLE, financeAdmin);
    }

    // ---------------------------------------------------------------- organisations

    /// @inheritdoc IBillRegistry
    function registerOrganisation(address account, string calldata name, string calldata creditCode, OrgKind kind)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        // One record per key: a revoked organisation comes back only under a new key, so its cut-off stays.
        if (_organisations[account].kind != OrgKind.None) revert OrgAlreadyRegistered(account);
        if (kind == OrgKind.None) revert OrgKindInvalid(kind);
        // Verifiers show the name, so it must say something.
        if (bytes(name).length == 0) revert OrgNameEmpty();
        // The credit code is how people match the chain's record to the organisation they know.
        if (bytes(creditCode).length != _CREDIT_CODE_LENGTH) revert OrgCreditCodeInvalid(creditCode);

        _organisations[account] = Organisation(name, creditCode, kind, uint64(block.timestamp), 0);
        _grantRole(_roleOf(kind), account);
        emit OrganisationRegistered(account, kind, name, creditCode);
    }

    /// @inheritdoc IBillRegistry
    function revokeOrganisation(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Organisation storage org = _organisations[account];
        // Only admitted organisations have a cut-off to record.
        if (org.kind == OrgKind.None) revert OrgNotRegistered(account);
        // The first cut-off stands: moving it later would re-validate bills issued after it.
        if (org.revokedAt != 0) revert OrgAlreadyRevoked(account, org.revokedAt);

        org.revokedAt = uint64(block.timestamp);
        _revokeRole(_roleOf(org.kind), account);
        emit OrganisationRevoked(account, org.revokedAt);
    }

    /// @dev Org roles are tied to an organisation record; granting them bare would bypass registration.
    function grantRole(bytes32 role, address account) public override {
        if (_isOrgRole(role)) revert OrgRoleManagedByRegistry(role);
        super.grantRole(role, account);
    }

    /// @dev Revoking an org role bare would leave no cut-off on record.
    function revokeRole(bytes32 role, address account) public override {
        if (_isOrgRole(role)) revert OrgRoleManagedByRegistry(role);
        super.revokeRole(role, account);
    }

    /// @dev Likewise: an organisation leaves through the finance department, which records the cut-off.
    function renounceRole(bytes32 role, address callerConfirmation) public override {
        if (_isOrgRole(role)) revert OrgRoleManagedByRegistry(role);
        super.renounceRole(role, callerConfirmation);
    }

    // ---------------------------------------------------------------- bills

    /// @inheritdoc IBillRegistry
    function anchor(bytes32 root) external onlyRole(ISSUER_ROLE) {
        // A zero root would read back as "never anchored".
        if (root == bytes32(0)) revert BillRootZero();
        uint256 existing = _anchors[root];
        // First anchoring wins: the recorded issuer and time never change.
        if (existing != 0) {
            Anchor memory first = _unpackAnchor(existing);
            revert BillRootAlreadyAnchored(root, first.issuer, first.anchoredAt);
        }

        _anchors[root] = (block.timestamp << 160) | uint256(uint160(msg.sender));
        emit BillsAnchored(root, msg.sender);
    }

    /// @inheritdoc IBillRegistry
    function claim(bytes32 root, bytes32[] calldata proof, bytes32 billRef, bytes32 contentHash, bytes32 claimRef)
        external
        onlyRole(CLAIMANT_ROLE)
    {
        address issuer = _provenIssuer(root, proof, billRef, contentHash);
        _settle(issuer, billRef, BillStatus.Claimed);
        emit BillClaimed(issuer, billRef, msg.sender, root, claimRef);
    }

    /// @inheritdoc IBillRegistry
    function voidBill(
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 billRef,
        bytes32 contentHash,
        uint8 reasonCode,
        bytes32 replacementRef
    ) external onlyRole(ISSUER_ROLE) {
        // A reversal without a reason cannot be audited.
        if (reasonCode == 0) revert BillVoidReasonMissing();
        address issuer = _provenIssuer(root, proof, billRef, contentHash);
        // Nobody voids another organisation's bills.
        if (issuer != msg.sender) revert BillNotIssuedBy(billRef, issuer, msg.sender);
        _settle(issuer, billRef, BillStatus.Voided);
        emit BillVoided(issuer, billRef, root, reasonCode, replacementRef);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IBillRegistry
    function verify(bytes32 root, bytes32[] calldata proof, bytes32 billRef, bytes32 contentHash)
        external
        view
        returns (BillRecord memory record)
    {
        Anchor memory anchored = _unpackAnchor(_anchors[root]);
        if (anchored.issuer == address(0)) return record;
        if (!MerkleProof.verifyCalldata(proof, root, leafOf(billRef, contentHash))) return record;

        Settlement memory settlement = _unpackSettlement(_settlements[anchored.issuer][billRef]);
        record.status = settlement.status == BillStatus.Unknown ? BillStatus.Issued : settlement.status;
        record.issuer = anchored.issuer;
        record.anchoredAt = anchored.anchoredAt;
        record.issuerRevokedAt = _organisations[anchored.issuer].revokedAt;
        record.settledBy = settlement.by;
        record.settledAt = settlement.at;
    }

    /// @inheritdoc IBillRegistry
    function organisation(address account) external view returns (Organisation memory) {
        return _organisations[account];
    }

    /// @inheritdoc IBillRegistry
    function anchorOf(bytes32 root) external view returns (Anchor memory) {
        return _unpackAnchor(_anchors[root]);
    }

    /// @inheritdoc IBillRegistry
    function settlementOf(address issuer, bytes32 billRef) external view returns (Settlement memory) {
        return _unpackSettlement(_settlements[issuer][billRef]);
    }

    /// @inheritdoc IBillRegistry
    function leafOf(bytes32 billRef, bytes32 contentHash) public pure returns (bytes32) {
        // Double hashing, as StandardMerkleTree does, keeps a leaf from ever passing as an inner node.
        return keccak256(bytes.concat(keccak256(abi.encode(billRef, contentHash))));
    }

    /// @dev ERC-165: AccessControl's interfaces plus this registry's.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IBillRegistry).interfaceId || super.supportsInterface(interfaceId);
    }

    // ---------------------------------------------------------------- internal

    /// @dev The issuer that anchored `root`, once the proof shows the bill under it.
    function _provenIssuer(bytes32 root, bytes32[] calldata proof, bytes32 billRef, bytes32 contentHash)
        private
        view
        returns (address issuer)
    {
        issuer = address(uint160(_anchors[root]));
        // Claims and voids need a root someone actually anchored.
        if (issuer == address(0)) revert BillRootUnknown(root);
        // And the bill, exactly as hashed, must be under it.
        if (!MerkleProof.verifyCalldata(proof, root, leafOf(billRef, contentHash))) {
            revert BillProofInvalid(root, billRef, contentHash);
        }
    }

    /// @dev Record the claim or void of (issuer, billRef) by the caller, in one word.
    function _settle(address issuer, bytes32 billRef, BillStatus status) private {
        uint256 existing = _settlements[issuer][billRef];
        // A bill is settled once: claimed or voided, never both, never twice.
        if (existing != 0) {
            Settlement memory first = _unpackSettlement(existing);
            if (first.status == BillStatus.Claimed) revert BillAlreadyClaimed(billRef, first.by, first.at);
            revert BillAlreadyVoided(billRef, first.by, first.at);
        }
        _settlements[issuer][billRef] =
            (uint256(status) << 224) | (block.timestamp << 160) | uint256(uint160(msg.sender));
    }

    function _unpackSettlement(uint256 packed) private pure returns (Settlement memory) {
        return Settlement(address(uint160(packed)), uint64(packed >> 160), BillStatus(uint8(packed >> 224)));
    }

    function _unpackAnchor(uint256 packed) private pure returns (Anchor memory) {
        return Anchor(address(uint160(packed)), uint64(packed >> 160));
    }

    function _roleOf(OrgKind kind) private pure returns (bytes32) {
        return kind == OrgKind.Issuer ? ISSUER_ROLE : CLAIMANT_ROLE;
    }

    function _isOrgRole(bytes32 role) private pure returns (bool) {
        return role == ISSUER_ROLE || role == CLAIMANT_ROLE;
    }
}
