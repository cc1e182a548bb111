// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IBillRegistry
/// @notice The on-chain registry of fiscal e-bills. It holds Merkle roots over bill hashes, who
///         anchored them and when, and the claim (reimbursement) or void status of each bill.
///         No personal data is ever written here: a bill is only its reference and content hash.
/// @dev A bill is identified on chain by (issuer, billRef). `billRef` is derived off chain from the
///      bill code and bill number (see app/bills); the content hash is the bill's EIP-712 digest.
///      Leaves use OpenZeppelin's StandardMerkleTree encoding of (bytes32 billRef, bytes32 contentHash):
///      `keccak256(bytes.concat(keccak256(abi.encode(billRef, contentHash))))`.
interface IBillRegistry {
    /// @notice What an organisation is admitted to do.
    enum OrgKind {
        None,
        Issuer,
        Claimant
    }

    /// @notice Where a bill stands. Statuses only move forward: Issued → Claimed or Issued → Voided.
    enum BillStatus {
        Unknown,
        Issued,
        Claimed,
        Voided
    }

    /// @notice An organisation admitted by the finance department.
    /// @param name Registered name, e.g. "北京市第一中学".
    /// @param creditCode The 18-character unified social credit code.
    /// @param kind Issuer (invoicing unit) or Claimant (reimbursing unit).
    /// @param registeredAt When it was admitted (UTC seconds).
    /// @param revokedAt When it was revoked, 0 while it is active: the cut-off for its bills.
    struct Organisation {
        string name;
        string creditCode;
        OrgKind kind;
        uint64 registeredAt;
        uint64 revokedAt;
    }

    /// @notice One anchored Merkle root. Packed into a single slot (20 + 8 bytes).
    struct Anchor {
        address issuer;
        uint64 anchoredAt;
    }

    /// @notice The claim or void of one bill. Packed into a single slot (20 + 8 + 1 bytes).
    struct Settlement {
        address by;
        uint64 at;
        BillStatus status;
    }

    /// @notice Everything a verifier needs to know about one bill, as `verify` answers it.
    /// @param status Unknown when the root is not anchored or the proof does not match.
    /// @param issuer The organisation that anchored the root.
    /// @param anchoredAt When the root was anchored.
    /// @param issuerRevokedAt The issuer's revocation cut-off, 0 while it is active.
    /// @param settledBy Who claimed or voided the bill, zero while it is only issued.
    /// @param settledAt When it was claimed or voided.
    struct BillRecord {
        BillStatus status;
        address issuer;
        uint64 anchoredAt;
        uint64 issuerRevokedAt;
        address settledBy;
        uint64 settledAt;
    }

    // ---------------------------------------------------------------- events

    /// @notice An organisation was admitted.
    event OrganisationRegistered(address indexed account, OrgKind indexed kind, string name, string creditCode);

    /// @notice An organisation was revoked; its bills anchored before `revokedAt` still verify.
    event OrganisationRevoked(address indexed account, uint64 revokedAt);

    /// @notice An issuer anchored a Merkle root covering one or more bills.
    event BillsAnchored(bytes32 indexed root, address indexed issuer);

    /// @notice A claimant marked a bill reimbursed.
    /// @param claimRef The claimant's own reference (e.g. its case number), never personal data.
    event BillClaimed(
        address indexed issuer, bytes32 indexed billRef, address indexed claimant, bytes32 root, bytes32 claimRef
    );

    /// @notice The issuer voided a bill (red-letter reversal).
    /// @param reasonCode Why (1 = wrong content, 2 = refund, 3 = duplicate, 4 = other; 0 is refused).
    /// @param replacementRef The billRef of the bill that replaces it, zero if none.
    event BillVoided(
        address indexed issuer, bytes32 indexed billRef, bytes32 root, uint8 reasonCode, bytes32 replacementRef
    );

    // ---------------------------------------------------------------- errors

    /// @notice The account is already registered as an organisation.
    error OrgAlreadyRegistered(address account);
    /// @notice The account is not a registered organisation.
    error OrgNotRegistered(address account);
    /// @notice The organisation was already revoked at `revokedAt`.
    error OrgAlreadyRevoked(address account, uint64 revokedAt);
    /// @notice The kind must be Issuer or Claimant.
    error OrgKindInvalid(OrgKind kind);
    /// @notice The name is empty.
    error OrgNameEmpty();
    /// @notice The unified social credit code is not 18 characters long.
    error OrgCreditCodeInvalid(string creditCode);
    /// @notice Issuer and claimant roles are granted and revoked only through register/revoke.
    error OrgRoleManagedByRegistry(bytes32 role);

    /// @notice The zero root cannot be anchored.
    error BillRootZero();
    /// @notice The root was already anchored by `issuer` at `anchoredAt`.
    error BillRootAlreadyAnchored(bytes32 root, address issuer, uint64 anchoredAt);
    /// @notice The root was never anchored.
    error BillRootUnknown(bytes32 root);
    /// @notice The proof does not show (billRef, contentHash) under the root.
    error BillProofInvalid(bytes32 root, bytes32 billRef, bytes32 contentHash);
    /// @notice The bill was already claimed by `by` at `at`.
    error BillAlreadyClaimed(bytes32 billRef, address by, uint64 at);
    /// @notice The bill was voided by `by` at `at`.
    error BillAlreadyVoided(bytes32 billRef, address by, uint64 at);
    /// @notice Only the issuer that anchored the bill may void it.
    error BillNotIssuedBy(bytes32 billRef, address issuer, address caller);
    /// @notice A void needs a non-zero reason code.
    error BillVoidReasonMissing();

    // ---------------------------------------------------------------- organisations

    /// @notice Admit an organisation and grant it the role of its kind. Finance admin only.
    /// @param account The organisation's signing address.
    /// @param name Its registered name.
    /// @param creditCode Its 18-character unified social credit code.
    /// @param kind Issuer or Claimant.
    function registerOrganisation(address account, string calldata name, string calldata creditCode, OrgKind kind)
        external;

    /// @notice Revoke an organisation: from now on everything it tries reverts. Finance admin only.
    /// @dev Bills it anchored before the cut-off keep verifying and can still be claimed.
    function revokeOrganisation(address account) external;

    // ---------------------------------------------------------------- bills

    /// @notice Anchor a Merkle root over a batch of bills (for one bill, root = leaf). Issuers only.
    function anchor(bytes32 root) external;

    /// @notice Mark a bill reimbursed, once and for all. Claimants only.
    /// @param root A root the bill was anchored under.
    /// @param proof The Merkle proof of the bill's leaf under `root`.
    /// @param billRef The bill reference (from bill code and number).
    /// @param contentHash The bill's EIP-712 digest.
    /// @param claimRef The claimant's own reference, recorded in the event.
    function claim(bytes32 root, bytes32[] calldata proof, bytes32 billRef, bytes32 contentHash, bytes32 claimRef)
        external;

    /// @notice Void a bill (red-letter reversal). Only the issuer that anchored it, while it is unclaimed.
    /// @param reasonCode Why; must not be 0.
    /// @param replacementRef The billRef of the replacement bill, or zero.
    function voidBill(
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 billRef,
        bytes32 contentHash,
        uint8 reasonCode,
        bytes32 replacementRef
    ) external;

    // ---------------------------------------------------------------- views

    /// @notice The status of a bill, its issuer and who settled it. Never reverts.
    function verify(bytes32 root, bytes32[] calldata proof, bytes32 billRef, bytes32 contentHash)
        external
        view
        returns (BillRecord memory);

    /// @notice The organisation registered at `account` (kind None if none).
    function organisation(address account) external view returns (Organisation memory);

    /// @notice Who anchored `root` and when (zero issuer if never).
    function anchorOf(bytes32 root) external view returns (Anchor memory);

    /// @notice The claim or void of (issuer, billRef), status Unknown if neither happened.
    function settlementOf(address issuer, bytes32 billRef) external view returns (Settlement memory);

    /// @notice The Merkle leaf of (billRef, contentHash), as StandardMerkleTree builds it.
    function leafOf(bytes32 billRef, bytes32 contentHash) external pure returns (bytes32);
}
