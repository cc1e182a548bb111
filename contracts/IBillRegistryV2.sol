// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IBillRegistryV2
/// @notice Version 2 of the on-chain registry of fiscal e-bills, deployed beside version 1 (whose bills keep
///         verifying there). It adds stable organisation identities with key rotation, admission with proof of
///         possession (EIP-712), roots anchored per issuer, Merkle leaves that commit to the bill's total, review
///         locks, partial claims, conversion to paper and voids that name their replacement.
///         No personal data is ever written here: a bill is its reference, content hash and total in fen.
/// @dev Identities. An organisation is a `uint32 orgId` (1, 2, ... in admission order) that never changes; its
///      unified social credit code is unique on chain and maps to it (`orgIdOfCreditCode`). The organisation
///      acts through one current key; the finance admin can rotate it. Every key ever admitted stays bound to
///      its organisation (a key is never admitted twice), so bills anchored under an old key still verify as
///      that organisation, while the old key itself can do nothing any more.
///
///      Bills. A bill is identified by (issuerId, billRef); roots are anchored per issuer, so no issuer can take
///      another's root first. Leaves use OpenZeppelin's StandardMerkleTree encoding of
///      (bytes32 billRef, bytes32 contentHash, uint256 totalFen):
///      `keccak256(bytes.concat(keccak256(abi.encode(billRef, contentHash, totalFen))))`.
///
///      Statuses only move forward (numerically too): Issued → PartlyReimbursed → Reimbursed;
///      Issued → ConvertedToPaper; Issued → Voided. A review lock is not a status: it sits beside
///      Issued or PartlyReimbursed and is live while `block.timestamp < until`.
///
///      Org roles. ISSUER_ROLE and CLAIMANT_ROLE are held by exactly the current keys of active organisations of
///      that kind; they change only through registerOrganisation, rotateKey and revokeOrganisation, which emit
///      the standard RoleGranted / RoleRevoked events. Callers without the role revert with OpenZeppelin's
///      `AccessControlUnauthorizedAccount(account, neededRole)`. The finance admin (DEFAULT_ADMIN_ROLE) changes
///      hands in two steps with a delay (OpenZeppelin AccessControlDefaultAdminRules).
interface IBillRegistryV2 {
    /// @notice What an organisation is admitted to do.
    enum OrgKind {
        None,
        Issuer,
        Claimant
    }

    /// @notice Where a bill stands; see the contract notes for the allowed moves.
    enum BillStatus {
        Unknown,
        Issued,
        PartlyReimbursed,
        Reimbursed,
        ConvertedToPaper,
        Voided
    }

    /// @notice What the organisation's key signs to ask for admission (EIP-712 struct
    ///         `AdmissionRequest(address account,string name,string creditCode,uint8 kind,uint256 deadline)`,
    ///         domain name "BillRegistry", version "2", this chain and this contract).
    /// @param account The key being admitted: the signer.
    /// @param name Registered name, e.g. "北京市第一中学".
    /// @param creditCode The 18-character unified social credit code (GB 32100-2015, upper case, check character).
    /// @param kind Issuer (invoicing unit) or Claimant (reimbursing unit).
    /// @param deadline The last block time (UTC seconds) at which the request may be used.
    struct AdmissionRequest {
        address account;
        string name;
        string creditCode;
        OrgKind kind;
        uint256 deadline;
    }

    /// @notice What the new key signs to accept an organisation's key (EIP-712 struct
    ///         `KeyRotationRequest(uint32 orgId,address newKey,uint256 deadline)`, same domain).
    struct KeyRotationRequest {
        uint32 orgId;
        address newKey;
        uint256 deadline;
    }

    /// @notice An admitted organisation.
    /// @param key Its current key (after revocation: the key it had, which can no longer act).
    /// @param registeredAt When it was admitted (UTC seconds).
    /// @param revokedAt When it was revoked, 0 while active: the cut-off for its bills.
    struct Organisation {
        string name;
        string creditCode;
        OrgKind kind;
        address key;
        uint64 registeredAt;
        uint64 revokedAt;
    }

    /// @notice A key as the registry knows it. Keys are bound to one organisation for ever.
    /// @param orgId The organisation it belongs or belonged to, 0 if never admitted.
    /// @param rotatedAt When the finance admin moved its organisation to another key, 0 if never.
    /// @param revokedAt When its organisation was revoked while this was the current key, 0 if not.
    struct KeyRecord {
        uint32 orgId;
        OrgKind kind;
        uint64 rotatedAt;
        uint64 revokedAt;
    }

    /// @notice One anchored root of one issuer.
    /// @param key The issuer's key that anchored it.
    struct Anchor {
        address key;
        uint64 anchoredAt;
    }

    /// @notice The mutable state of (issuerId, billRef), as stored (one word): no proof involved.
    /// @param lockHolderId The claimant holding the review lock, 0 if none was ever set or it was released.
    /// @param lockedUntil The lock is live while block.timestamp < lockedUntil.
    /// @param reimbursedFen The sum of all claim parts so far.
    /// @param lastSettledBy The organisation of the last claim part, void or paper conversion.
    /// @param lastSettledAt When that happened.
    /// @param voidReason The void's reason code, 0 unless voided.
    struct BillState {
        BillStatus status;
        uint32 lockHolderId;
        uint64 lockedUntil;
        uint64 reimbursedFen;
        uint32 lastSettledBy;
        uint64 lastSettledAt;
        uint8 voidReason;
    }

    /// @notice Everything a verifier needs about one bill, as `verify` answers it.
    /// @param status Unknown when the root is not anchored by `issuerId` or the proof does not match
    ///        (then every other field is zero).
    /// @param issuerId The issuing organisation (as asked).
    /// @param anchoredBy The issuer's key that anchored the root.
    /// @param anchoredAt When the root was anchored.
    /// @param issuerRevokedAt The issuer's revocation cut-off, 0 while active. Anchors always precede it.
    /// @param anchorKeyRotatedAt When `anchoredBy` stopped being the issuer's key by rotation, 0 if it has not.
    /// @param lockHolderId The claimant holding a live review lock, 0 if none is live.
    /// @param lockedUntil Until when that lock is live, 0 if none is live.
    /// @param totalFen The total the leaf commits to (as proven).
    /// @param reimbursedFen The sum reimbursed so far.
    /// @param lastSettledBy The organisation of the last claim part, void or paper conversion, 0 if none.
    /// @param lastSettledAt When that happened, 0 if never.
    /// @param paperNumber The paper bill's number (ASCII, left-aligned, zero-padded) once converted, else 0.
    /// @param replacementRef The billRef of the bill replacing it once voided, 0 if none was named.
    /// @param voidReason The void's reason code, 0 unless voided.
    struct BillRecord {
        BillStatus status;
        uint32 issuerId;
        address anchoredBy;
        uint64 anchoredAt;
        uint64 issuerRevokedAt;
        uint64 anchorKeyRotatedAt;
        uint32 lockHolderId;
        uint64 lockedUntil;
        uint256 totalFen;
        uint256 reimbursedFen;
        uint32 lastSettledBy;
        uint64 lastSettledAt;
        bytes32 paperNumber;
        bytes32 replacementRef;
        uint8 voidReason;
    }

    // ---------------------------------------------------------------- events

    /// @notice An organisation was admitted under `key`.
    event OrganisationRegistered(
        uint32 indexed orgId, address indexed key, OrgKind indexed kind, string name, string creditCode
    );

    /// @notice The finance admin moved an organisation from `oldKey` to `newKey`; `oldKey` can no longer act.
    event OrganisationKeyRotated(uint32 indexed orgId, address indexed oldKey, address indexed newKey);

    /// @notice An organisation was revoked; its bills (all anchored before `revokedAt`) still verify.
    event OrganisationRevoked(uint32 indexed orgId, address indexed key, uint64 revokedAt);

    /// @notice An issuer anchored a Merkle root covering one or more bills. The anchoring key is the issuer's
    ///         current key at that block (see OrganisationRegistered / OrganisationKeyRotated); `anchorOf` has it.
    event BillsAnchored(uint32 indexed issuerId, bytes32 indexed root);

    /// @notice A claimant locked a bill for review until `until`.
    event BillLocked(uint32 indexed issuerId, bytes32 indexed billRef, uint32 indexed holderId, uint64 until);

    /// @notice The holder released its lock before it expired.
    event BillReleased(uint32 indexed issuerId, bytes32 indexed billRef, uint32 indexed holderId);

    /// @notice A claimant reimbursed one part of a bill (or all of it).
    /// @param amountFen This part, in fen.
    /// @param remainingFen What remains claimable after it (0: the bill is now Reimbursed).
    /// @param root The root the bill was proven under.
    /// @param claimRef The claimant's own reference (e.g. its case number), never personal data.
    event BillClaimed(
        uint32 indexed issuerId,
        bytes32 indexed billRef,
        uint32 indexed claimantId,
        uint256 amountFen,
        uint256 remainingFen,
        bytes32 root,
        bytes32 claimRef
    );

    /// @notice The issuer voided a bill (red-letter reversal).
    /// @param replacementRef The billRef of the bill that replaces it, zero if none.
    /// @param reasonCode Why (1 = wrong content, 2 = refund, 3 = duplicate, 4 = other; 0 is refused).
    event BillVoided(
        uint32 indexed issuerId, bytes32 indexed billRef, bytes32 indexed replacementRef, uint8 reasonCode, bytes32 root
    );

    /// @notice The issuer converted a bill to paper; it can no longer be claimed or locked on chain.
    event BillConvertedToPaper(uint32 indexed issuerId, bytes32 indexed billRef, bytes32 paperNumber, bytes32 root);

    // ---------------------------------------------------------------- errors

    /// @notice The maximum lock duration must be between 1 second and 365 days.
    error RegistryMaxLockDurationInvalid(uint64 maxLockDuration);

    /// @notice The kind must be Issuer or Claimant.
    error OrgKindInvalid(OrgKind kind);
    /// @notice The name is empty.
    error OrgNameEmpty();
    /// @notice Not a unified social credit code: 18 characters of 0-9 and A-Y without I, O, S, V, Z, and a
    ///         matching GB 32100-2015 check character (one spelling per organisation keeps codes unique).
    error OrgCreditCodeInvalid(string creditCode);
    /// @notice The credit code already belongs to organisation `orgId`.
    error OrgCreditCodeTaken(string creditCode, uint32 orgId);
    /// @notice The key was already admitted, for organisation `orgId`: keys are never reused.
    error OrgKeyAlreadyUsed(address key, uint32 orgId);
    /// @notice No organisation has that id.
    error OrgNotRegistered(uint32 orgId);
    /// @notice The organisation was already revoked at `revokedAt`.
    error OrgAlreadyRevoked(uint32 orgId, uint64 revokedAt);
    /// @notice The signed request expired at `deadline`.
    error OrgRequestExpired(uint256 deadline);
    /// @notice The request was not signed by `expected` (`signer` is who did, zero if the signature is malformed).
    error OrgSignatureInvalid(address expected, address signer);
    /// @notice Issuer and claimant roles move only through register, rotate and revoke.
    error OrgRoleManagedByRegistry(bytes32 role);

    /// @notice The zero root cannot be anchored.
    error BillRootZero();
    /// @notice The issuer already anchored `root`, with `key` at `anchoredAt`.
    error BillRootAlreadyAnchored(uint32 issuerId, bytes32 root, address key, uint64 anchoredAt);
    /// @notice The issuer never anchored `root`.
    error BillRootUnknown(uint32 issuerId, bytes32 root);
    /// @notice The proof does not show (billRef, contentHash, totalFen) under the root.
    error BillProofInvalid(bytes32 root, bytes32 billRef, bytes32 contentHash, uint256 totalFen);
    /// @notice The total does not fit the registry's 64-bit sums (no real bill comes near it).
    error BillTotalOutOfRange(uint256 totalFen);
    /// @notice The bill is fully reimbursed; `by` claimed the last part at `at`.
    error BillAlreadyReimbursed(bytes32 billRef, uint32 by, uint64 at);
    /// @notice The bill was voided by its issuer `by` at `at`.
    error BillAlreadyVoided(bytes32 billRef, uint32 by, uint64 at);
    /// @notice The bill was converted to paper bill `paperNumber` at `at`.
    error BillOnPaper(bytes32 billRef, bytes32 paperNumber, uint64 at);
    /// @notice `holderId` holds a live lock on the bill until `until`.
    error BillLockedBy(bytes32 billRef, uint32 holderId, uint64 until);
    /// @notice No live lock to release.
    error BillNotLocked(bytes32 billRef);
    /// @notice The lock must end after now and at most `latest` (now + maxLockDuration).
    error BillLockUntilInvalid(uint64 until, uint64 latest);
    /// @notice The claim of `amountFen` would take the sum above the committed total: `remainingFen` is left.
    error BillClaimExceedsRemaining(bytes32 billRef, uint256 amountFen, uint256 remainingFen);
    /// @notice `reimbursedFen` was already reimbursed: a bill being paid cannot be voided or go to paper.
    error BillReimbursementStarted(bytes32 billRef, uint256 reimbursedFen);
    /// @notice A void needs a non-zero reason code.
    error BillVoidReasonMissing();
    /// @notice A bill cannot name itself as its replacement.
    error BillReplacementInvalid(bytes32 billRef);
    /// @notice A paper conversion needs the paper bill's number.
    error BillPaperNumberMissing();

    // ---------------------------------------------------------------- organisations

    /// @notice Admit an organisation whose key asked for it, and give the key the role of its kind.
    ///         Finance admin only.
    /// @param request What the key signed.
    /// @param signature The key's 65-byte EIP-712 signature over `request`.
    /// @return orgId The new organisation's id.
    function registerOrganisation(AdmissionRequest calldata request, bytes calldata signature)
        external
        returns (uint32 orgId);

    /// @notice Move an active organisation to a new key that asked for it. Finance admin only.
    /// @dev The old key loses the role at once and can never act again; bills it anchored keep verifying as
    ///      the organisation, and locks and claims held by the organisation carry over to the new key.
    /// @param request What the new key signed.
    /// @param signature The new key's 65-byte EIP-712 signature over `request`.
    function rotateKey(KeyRotationRequest calldata request, bytes calldata signature) external;

    /// @notice Revoke an organisation: from now on its key can do nothing. Finance admin only.
    /// @dev Final: the credit code stays bound to this organisation. Its bills keep verifying and can still be
    ///      claimed; a lock it holds runs until it expires.
    function revokeOrganisation(uint32 orgId) external;

    // ---------------------------------------------------------------- bills

    /// @notice Anchor a Merkle root over a batch of the caller's bills (for one bill, root = leaf). Issuers only.
    function anchor(bytes32 root) external;

    /// @notice Lock a bill for review until `until` (at most now + maxLockDuration). Claimants only.
    /// @dev While live, no other claimant can lock or claim it and the issuer cannot void it or convert it.
    ///      The holder may claim it (which ends the lock) or release it; after `until` anyone may proceed.
    ///      The holder cannot renew a live lock: it releases and locks again, when others may take it first.
    /// @param issuerId The issuing organisation.
    /// @param root A root the issuer anchored the bill under.
    /// @param proof The Merkle proof of the bill's leaf under `root`.
    /// @param billRef The bill reference (from bill code and number).
    /// @param contentHash The bill's EIP-712 digest.
    /// @param totalFen The bill's total in fen, as committed in its leaf.
    /// @param until When the lock ends (UTC seconds).
    function lock(
        uint32 issuerId,
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 billRef,
        bytes32 contentHash,
        uint256 totalFen,
        uint64 until
    ) external;

    /// @notice Release the caller's live lock on (issuerId, billRef). The holding claimant only.
    function release(uint32 issuerId, bytes32 billRef) external;

    /// @notice Reimburse one part of a bill, or all that remains. Claimants only.
    /// @dev Ends any lock the caller held. The sum of parts never exceeds `totalFen`; when it reaches it the bill
    ///      is Reimbursed, before that PartlyReimbursed. A bill that another claimant holds a live lock on, or
    ///      that is voided or on paper, cannot be claimed.
    /// @param amountFen This part in fen; 0 means "all that remains".
    /// @param claimRef The claimant's own reference, recorded in the event.
    function claim(
        uint32 issuerId,
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 billRef,
        bytes32 contentHash,
        uint256 totalFen,
        uint256 amountFen,
        bytes32 claimRef
    ) external;

    /// @notice Void one of the caller's bills (red-letter reversal), naming its replacement. Issuers only.
    /// @dev Refused once any part was reimbursed and while a claimant holds a live lock.
    /// @param reasonCode Why; must not be 0.
    /// @param replacementRef The billRef of the replacement bill, or zero if there is none (e.g. a refund).
    function voidBill(
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 billRef,
        bytes32 contentHash,
        uint256 totalFen,
        uint8 reasonCode,
        bytes32 replacementRef
    ) external;

    /// @notice Record that one of the caller's bills was converted to paper; once only. Issuers only.
    /// @dev Refused once any part was reimbursed and while a claimant holds a live lock.
    /// @param paperNumber The paper bill's number, ASCII left-aligned and zero-padded; must not be 0.
    function convertToPaper(
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 billRef,
        bytes32 contentHash,
        uint256 totalFen,
        bytes32 paperNumber
    ) external;

    // ---------------------------------------------------------------- views

    /// @notice Everything about a bill once its proof checks out; a record of zeros (status Unknown) otherwise.
    ///         Never reverts.
    function verify(
        uint32 issuerId,
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 billRef,
        bytes32 contentHash,
        uint256 totalFen
    ) external view returns (BillRecord memory);

    /// @notice The organisation `orgId` (kind None if none).
    function organisation(uint32 orgId) external view returns (Organisation memory);

    /// @notice The key `key` (orgId 0 if it was never admitted).
    function keyRecord(address key) external view returns (KeyRecord memory);

    /// @notice The organisation holding `creditCode`, 0 if none.
    function orgIdOfCreditCode(string calldata creditCode) external view returns (uint32);

    /// @notice How many organisations were ever admitted (the last orgId).
    function organisationCount() external view returns (uint32);

    /// @notice Who of `issuerId` anchored `root` and when (zero key if never).
    function anchorOf(uint32 issuerId, bytes32 root) external view returns (Anchor memory);

    /// @notice The stored state of (issuerId, billRef); status Unknown while nothing happened to it.
    function billStateOf(uint32 issuerId, bytes32 billRef) external view returns (BillState memory);

    /// @notice The longest review lock, in seconds (fixed at deployment).
    function maxLockDuration() external view returns (uint64);

    /// @notice The Merkle leaf of (billRef, contentHash, totalFen), as StandardMerkleTree builds it.
    function leafOf(bytes32 billRef, bytes32 contentHash, uint256 totalFen) external pure returns (bytes32);
}
