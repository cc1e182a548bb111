// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {IBillRegistryV2} from "./IBillRegistryV2.sol";

/// @title BillRegistryV2
/// @notice See {IBillRegistryV2}. The finance department holds DEFAULT_ADMIN_ROLE (handed over in two steps
///         after `defaultAdminDelay`); invoicing units' current keys hold ISSUER_ROLE, reimbursing units' current
///         keys hold CLAIMANT_ROLE. Both org roles are read from the key records, never granted bare.
/// @dev Storage layout (slots 0-2 are OpenZeppelin's; checked against solc's storageLayout output):
///      - slot 0   AccessControl `_roles`
///      - slot 1   AccessControlDefaultAdminRules `_pendingDefaultAdmin` | `_pendingDefaultAdminSchedule`
///                 | `_currentDelay`
///      - slot 2   `_currentDefaultAdmin` | `_pendingDelay` | `_pendingDelaySchedule`
///      - slot 3   `_bills[issuerId][billRef]`, ONE word per bill, everything the hot paths touch:
///                 status (bits 0..7) | lockHolderId (8..39) | lockedUntil (40..79) | reimbursedFen (80..143)
///                 | lastSettledBy (144..175) | lastSettledAt (176..215) | voidReason (216..223); 224..255 free
///      - slot 4   `_anchors[issuerId][root]` = anchoredAt (bits 160..199) | anchoring key (0..159)
///      - slot 5   `_keys[key]` = orgId (bits 0..31) | kind (32..39) | rotatedAt (40..79) | revokedAt (80..119):
///                 a key may act as `kind` iff everything above bit 31 equals `kind` (one SLOAD, one compare)
///      - slot 6   `_orgs[orgId]` = name, creditCode (own slots), then kind | registeredAt | revokedAt | key
///      - slot 7   `_orgIdByCreditCode[keccak256(creditCode)]`
///      - slot 8   `_paperNumbers[issuerId][billRef]`, written once, on conversion only (rare data)
///      - slot 9   `_replacements[issuerId][billRef]`, written once, on a void naming a replacement only
///      - slot 10  `_orgCount` (uint32)
///      Organisation and lock holder ids are uint32, not addresses, so that the whole bill fits one word and a
///      claimant's lock and its parts survive its key rotation.
///      Words are written whole, as computed: a struct assignment would write member by member.
contract BillRegistryV2 is IBillRegistryV2, AccessControlDefaultAdminRules, IERC5267 {
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    bytes32 public constant CLAIMANT_ROLE = keccak256("CLAIMANT_ROLE");

    /// @notice EIP-712 type hash of {IBillRegistryV2-AdmissionRequest}.
    bytes32 public constant ADMISSION_TYPEHASH = keccak256(
        "AdmissionRequest(address account,string name,string creditCode,uint8 kind,uint256 deadline)"
    );
    /// @notice EIP-712 type hash of {IBillRegistryV2-KeyRotationRequest}.
    bytes32 public constant KEY_ROTATION_TYPEHASH =
        keccak256("KeyRotationRequest(uint32 orgId,address newKey,uint256 deadline)");

    // EIP-712 domain: name "BillRegistry", version "2", this chain, this contract. Computed here rather than
    // inherited from OpenZeppelin's EIP712 because 5.7's EIP712 imports utils/Bytes.sol, whose `mcopy` assembly
    // does not compile for the shanghai EVM that Ganache 7.9.2 needs (ape-config.yaml); ECDSA is OpenZeppelin's.
    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant _HASHED_NAME = keccak256("BillRegistry");
    bytes32 private constant _HASHED_VERSION = keccak256("2");

    uint256 private constant _CREDIT_CODE_LENGTH = 18;
    uint64 private constant _MAX_LOCK_DURATION_CAP = 365 days;

    // Bit offsets in a `_bills` word.
    uint256 private constant _HOLDER_SHIFT = 8;
    uint256 private constant _UNTIL_SHIFT = 40;
    uint256 private constant _SUM_SHIFT = 80;
    uint256 private constant _BY_SHIFT = 144;
    uint256 private constant _AT_SHIFT = 176;
    uint256 private constant _REASON_SHIFT = 216;
    uint256 private constant _LOCK_MASK = ((1 << 72) - 1) << _HOLDER_SHIFT; // lockHolderId and lockedUntil

    // Bit offsets in a `_keys` word.
    uint256 private constant _KIND_SHIFT = 32;
    uint256 private constant _ROTATED_SHIFT = 40;
    uint256 private constant _REVOKED_SHIFT = 80;

    /// @dev An organisation as stored: the last four members share one slot.
    struct OrgStorage {
        string name;
        string creditCode;
        OrgKind kind;
        uint40 registeredAt;
        uint40 revokedAt;
        address key;
    }

    uint64 private immutable _MAX_LOCK_DURATION;

    mapping(uint32 issuerId => mapping(bytes32 billRef => uint256 packedBill)) private _bills;
    mapping(uint32 issuerId => mapping(bytes32 root => uint256 packedAnchor)) private _anchors;
    mapping(address key => uint256 packedKey) private _keys;
    mapping(uint32 orgId => OrgStorage) private _orgs;
    mapping(bytes32 creditCodeHash => uint32 orgId) private _orgIdByCreditCode;
    mapping(uint32 issuerId => mapping(bytes32 billRef => bytes32 paperNumber)) private _paperNumbers;
    mapping(uint32 issuerId => mapping(bytes32 billRef => bytes32 replacementRef)) private _replacements;
    uint32 private _orgCount;

    /// @param financeAdmin The finance department's account: admits, rotates and revokes organisations.
    /// @param adminTransferDelay How long a new finance admin waits between being proposed and accepting.
    /// @param maxLockDuration The longest review lock a claimant may take, in seconds (e.g. 30 days).
    constructor(address financeAdmin, uint48 adminTransferDelay, uint64 maxLockDuration)
        AccessControlDefaultAdminRules(adminTransferDelay, financeAdmin)
    {
        // A zero maximum would make locking impossible; a huge one would let one claimant block a bill for ever.
        if (maxLockDuration == 0 || maxLockDuration > _MAX_LOCK_DURATION_CAP) {
            revert RegistryMaxLockDurationInvalid(maxLockDuration);
        }
        _MAX_LOCK_DURATION = maxLockDuration;
    }

    // ---------------------------------------------------------------- organisations

    /// @inheritdoc IBillRegistryV2
    function registerOrganisation(AdmissionRequest calldata request, bytes calldata signature)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        returns (uint32 orgId)
    {
        OrgKind kind = request.kind;
        if (kind == OrgKind.None) revert OrgKindInvalid(kind);
        // Verifiers show the name, so it must say something.
        if (bytes(request.name).length == 0) revert OrgNameEmpty();
        // One canonical spelling per organisation, or uniqueness could be dodged with a typo or lower case.
        if (!_isCreditCode(request.creditCode)) revert OrgCreditCodeInvalid(request.creditCode);
        address account = request.account;
        // Proof of possession: a key is admitted only if its holder asked, for this name, code and kind.
        _checkSigned(
            account,
            keccak256(
                abi.encode(
                    ADMISSION_TYPEHASH,
                    account,
                    keccak256(bytes(request.name)),
                    keccak256(bytes(request.creditCode)),
                    kind,
                    request.deadline
                )
            ),
            request.deadline,
            signature
        );
        _requireUnusedKey(account);
        bytes32 codeHash = keccak256(bytes(request.creditCode));
        uint32 holder = _orgIdByCreditCode[codeHash];
        // A credit code belongs to one organisation on chain, revoked or not.
        if (holder != 0) revert OrgCreditCodeTaken(request.creditCode, holder);

        orgId = ++_orgCount;
        _orgIdByCreditCode[codeHash] = orgId;
        OrgStorage storage org = _orgs[orgId];
        org.name = request.name;
        org.creditCode = request.creditCode;
        org.kind = kind;
        org.registeredAt = uint40(block.timestamp);
        org.key = account;
        _keys[account] = (uint256(kind) << _KIND_SHIFT) | orgId;
        emit OrganisationRegistered(orgId, account, kind, request.name, request.creditCode);
        emit RoleGranted(_roleOf(kind), account, msg.sender);
    }

    /// @inheritdoc IBillRegistryV2
    function rotateKey(KeyRotationRequest calldata request, bytes calldata signature)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        uint32 orgId = request.orgId;
        OrgStorage storage org = _activeOrgStorage(orgId);
        address newKey = request.newKey;
        // The new key's holder must have asked to act for this very organisation.
        _checkSigned(
            newKey,
            keccak256(abi.encode(KEY_ROTATION_TYPEHASH, orgId, newKey, request.deadline)),
            request.deadline,
            signature
        );
        _requireUnusedKey(newKey);

        address oldKey = org.key;
        OrgKind kind = org.kind;
        org.key = newKey;
        _keys[oldKey] |= block.timestamp << _ROTATED_SHIFT;
        _keys[newKey] = (uint256(kind) << _KIND_SHIFT) | orgId;
        emit OrganisationKeyRotated(orgId, oldKey, newKey);
        emit RoleRevoked(_roleOf(kind), oldKey, msg.sender);
        emit RoleGranted(_roleOf(kind), newKey, msg.sender);
    }

    /// @inheritdoc IBillRegistryV2
    function revokeOrganisation(uint32 orgId) external onlyRole(DEFAULT_ADMIN_ROLE) {
        OrgStorage storage org = _activeOrgStorage(orgId);
        address key = org.key;
        org.revokedAt = uint40(block.timestamp);
        _keys[key] |= block.timestamp << _REVOKED_SHIFT;
        emit OrganisationRevoked(orgId, key, uint64(block.timestamp));
        emit RoleRevoked(_roleOf(org.kind), key, msg.sender);
    }

    /// @dev Org roles follow the key records; granting them bare would bypass admission.
    function grantRole(bytes32 role, address account) public override {
        if (_isOrgRole(role)) revert OrgRoleManagedByRegistry(role);
        super.grantRole(role, account);
    }

    /// @dev Revoking an org role bare would leave no cut-off on record.
    function revokeRole(bytes32 role, address account)
        public
        override
    {
        if (_isOrgRole(role)) revert OrgRoleManagedByRegistry(role);
        super.revokeRole(role, account);
    }

    /// @dev Likewise: an organisation leaves through the finance department, which records the cut-off.
    function renounceRole(bytes32 role, address account)
        public
        override
    {
        if (_isOrgRole(role)) revert OrgRoleManagedByRegistry(role);
        super.renounceRole(role, account);
    }

    // ---------------------------------------------------------------- bills

    /// @inheritdoc IBillRegistryV2
    function anchor(bytes32 root) external {
        uint32 issuerId = _actingOrg(OrgKind.Issuer);
        // A zero root would read back as "never anchored".
        if (root == bytes32(0)) revert BillRootZero();
        mapping(bytes32 => uint256) storage anchors = _anchors[issuerId];
        uint256 existing = anchors[root];
        // First anchoring wins within the issuer; other issuers' roots live under their own ids.
        if (existing != 0) {
            revert BillRootAlreadyAnchored(issuerId, root, address(uint160(existing)), uint64(existing >> 160));
        }
        anchors[root] = (block.timestamp << 160) | uint256(uint160(msg.sender));
        emit BillsAnchored(issuerId, root);
    }

    /// @inheritdoc IBillRegistryV2
    function lock(
        uint32 issuerId,
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 billRef,
        bytes32 contentHash,
        uint256 totalFen,
        uint64 until
    ) external {
        uint32 holderId = _actingOrg(OrgKind.Claimant);
        uint256 latest = block.timestamp + _MAX_LOCK_DURATION;
        // A lock ends in the future, and not later than the maximum allows.
        if (until <= block.timestamp || until > latest) revert BillLockUntilInvalid(until, uint64(latest));
        _proveBill(issuerId, root, proof, billRef, contentHash, totalFen);
        mapping(bytes32 => uint256) storage bills = _bills[issuerId];
        uint256 word = bills[billRef];
        _requireClaimable(word, billRef);
        // One live lock at a time, the holder's own included (no renewal without a release).
        _requireNoLiveLock(word, billRef);

        uint256 status = uint8(word) == 0 ? uint256(BillStatus.Issued) : uint8(word);
        bills[billRef] = (word & ~(_LOCK_MASK | 0xff)) | (uint256(until) << _UNTIL_SHIFT)
            | (uint256(holderId) << _HOLDER_SHIFT) | status;
        emit BillLocked(issuerId, billRef, holderId, until);
    }

    /// @inheritdoc IBillRegistryV2
    function release(uint32 issuerId, bytes32 billRef) external {
        uint32 callerId = _actingOrg(OrgKind.Claimant);
        mapping(bytes32 => uint256) storage bills = _bills[issuerId];
        uint256 word = bills[billRef];
        uint64 until = uint64(uint40(word >> _UNTIL_SHIFT));
        // Only a live lock can be released; an expired one binds nobody already.
        if (until <= block.timestamp) revert BillNotLocked(billRef);
        uint32 holderId = uint32(word >> _HOLDER_SHIFT);
        // Only its holder releases it.
        if (holderId != callerId) revert BillLockedBy(billRef, holderId, until);

        uint256 rest = word & ~_LOCK_MASK;
        // An untouched bill goes back to the zero word (and the gas refund that comes with it).
        bills[billRef] = rest == uint256(BillStatus.Issued) ? 0 : rest;
        emit BillReleased(issuerId, billRef, holderId);
    }

    /// @inheritdoc IBillRegistryV2
    function claim(
        uint32 issuerId,
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 billRef,
        bytes32 contentHash,
        uint256 totalFen,
        uint256 amountFen,
        bytes32 claimRef
    ) external {
        uint32 claimantId = _actingOrg(OrgKind.Claimant);
        _proveBill(issuerId, root, proof, billRef, contentHash, totalFen);
        uint256 remainingFen;
        (amountFen, remainingFen) = _recordClaim(issuerId, billRef, totalFen, amountFen, claimantId);
        emit BillClaimed(issuerId, billRef, claimantId, amountFen, remainingFen, root, claimRef);
    }

    /// @inheritdoc IBillRegistryV2
    function voidBill(
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 billRef,
        bytes32 contentHash,
        uint256 totalFen,
        uint8 reasonCode,
        bytes32 replacementRef
    ) external {
        uint32 issuerId = _actingOrg(OrgKind.Issuer);
        // A reversal without a reason cannot be audited.
        if (reasonCode == 0) revert BillVoidReasonMissing();
        // A bill cannot replace itself: verifiers would loop.
        if (replacementRef == billRef) revert BillReplacementInvalid(billRef);
        // Roots are per issuer, so the caller can only ever reach its own bills.
        _proveBill(issuerId, root, proof, billRef, contentHash, totalFen);
        _settleByIssuer(issuerId, billRef, BillStatus.Voided, reasonCode);
        if (replacementRef != bytes32(0)) _replacements[issuerId][billRef] = replacementRef;
        emit BillVoided(issuerId, billRef, replacementRef, reasonCode, root);
    }

    /// @inheritdoc IBillRegistryV2
    function convertToPaper(
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 billRef,
        bytes32 contentHash,
        uint256 totalFen,
        bytes32 paperNumber
    ) external {
        uint32 issuerId = _actingOrg(OrgKind.Issuer);
        // The paper bill must be findable: its number is what people check.
        if (paperNumber == bytes32(0)) revert BillPaperNumberMissing();
        _proveBill(issuerId, root, proof, billRef, contentHash, totalFen);
        _settleByIssuer(issuerId, billRef, BillStatus.ConvertedToPaper, 0);
        _paperNumbers[issuerId][billRef] = paperNumber;
        emit BillConvertedToPaper(issuerId, billRef, paperNumber, root);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IBillRegistryV2
    function verify(
        uint32 issuerId,
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 billRef,
        bytes32 contentHash,
        uint256 totalFen
    ) external view returns (BillRecord memory record) {
        uint256 anchored = _anchors[issuerId][root];
        if (anchored == 0) return record;
        if (!MerkleProof.verifyCalldata(proof, root, leafOf(billRef, contentHash, totalFen))) return record;
        _fillRecord(record, issuerId, anchored, billRef);
        record.totalFen = totalFen;
    }

    /// @inheritdoc IBillRegistryV2
    function organisation(uint32 orgId) external view returns (Organisation memory) {
        OrgStorage storage org = _orgs[orgId];
        return Organisation(org.name, org.creditCode, org.kind, org.key, org.registeredAt, org.revokedAt);
    }

    /// @inheritdoc IBillRegistryV2
    function keyRecord(address key) external view returns (KeyRecord memory) {
        uint256 packed = _keys[key];
        return KeyRecord(
            uint32(packed),
            OrgKind(uint8(packed >> _KIND_SHIFT)),
            uint40(packed >> _ROTATED_SHIFT),
            uint40(packed >> _REVOKED_SHIFT)
        );
    }

    /// @inheritdoc IBillRegistryV2
    function orgIdOfCreditCode(string calldata creditCode) external view returns (uint32) {
        return _orgIdByCreditCode[keccak256(bytes(creditCode))];
    }

    /// @inheritdoc IBillRegistryV2
    function organisationCount() external view returns (uint32) {
        return _orgCount;
    }

    /// @inheritdoc IBillRegistryV2
    function anchorOf(uint32 issuerId, bytes32 root) external view returns (Anchor memory) {
        uint256 packed = _anchors[issuerId][root];
        return Anchor(address(uint160(packed)), uint64(packed >> 160));
    }

    /// @inheritdoc IBillRegistryV2
    function billStateOf(uint32 issuerId, bytes32 billRef) external view returns (BillState memory) {
        return _unpackBill(_bills[issuerId][billRef]);
    }

    /// @inheritdoc IBillRegistryV2
    function maxLockDuration() external view returns (uint64) {
        return _MAX_LOCK_DURATION;
    }

    /// @inheritdoc IBillRegistryV2
    function leafOf(bytes32 billRef, bytes32 contentHash, uint256 totalFen) public pure returns (bytes32) {
        // Double hashing, as StandardMerkleTree does, keeps a leaf from ever passing as an inner node.
        return keccak256(bytes.concat(keccak256(abi.encode(billRef, contentHash, totalFen))));
    }

    /// @notice The EIP-712 domain admission and rotation requests are signed in (ERC-5267).
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", "BillRegistry", "2", block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    /// @dev Org roles are exactly the usable keys of their kind: current, not rotated away, not revoked.
    function hasRole(bytes32 role, address account)
        public
        view
        override(AccessControl, IAccessControl)
        returns (bool)
    {
        if (role == ISSUER_ROLE) return _keys[account] >> _KIND_SHIFT == uint256(OrgKind.Issuer);
        if (role == CLAIMANT_ROLE) return _keys[account] >> _KIND_SHIFT == uint256(OrgKind.Claimant);
        return super.hasRole(role, account);
    }

    /// @dev ERC-165: AccessControlDefaultAdminRules' interfaces plus this registry's.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IBillRegistryV2).interfaceId || super.supportsInterface(interfaceId);
    }

    // ---------------------------------------------------------------- internal

    /// @dev The caller's organisation, if the caller is a usable key of `kind`; else OpenZeppelin's role error.
    function _actingOrg(OrgKind kind) private view returns (uint32) {
        uint256 packed = _keys[msg.sender];
        // Rotated-away and revoked keys have bits above the kind set, so they fail this one comparison.
        if (packed >> _KIND_SHIFT != uint256(kind)) revert AccessControlUnauthorizedAccount(msg.sender, _roleOf(kind));
        return uint32(packed);
    }

    /// @dev Reverts unless `issuerId` anchored `root` and the leaf of the bill is under it.
    function _proveBill(
        uint32 issuerId,
        bytes32 root,
        bytes32[] calldata proof,
        bytes32 billRef,
        bytes32 contentHash,
        uint256 totalFen
    ) private view {
        // Claims, locks, voids and conversions need a root that this issuer actually anchored.
        if (_anchors[issuerId][root] == 0) revert BillRootUnknown(issuerId, root);
        // And the bill, exactly as hashed and with its total, must be under it.
        if (!MerkleProof.verifyCalldata(proof, root, leafOf(billRef, contentHash, totalFen))) {
            revert BillProofInvalid(root, billRef, contentHash, totalFen);
        }
        // Sums are kept in 64 bits; a larger total would be truncated (no real bill comes near 1.8e17 yuan).
        if (totalFen > type(uint64).max) revert BillTotalOutOfRange(totalFen);
    }

    /// @dev Add one claim part to (issuerId, billRef); returns the part and what remains after it.
    function _recordClaim(uint32 issuerId, bytes32 billRef, uint256 totalFen, uint256 amountFen, uint32 claimantId)
        private
        returns (uint256, uint256)
    {
        mapping(bytes32 => uint256) storage bills = _bills[issuerId];
        uint256 word = bills[billRef];
        _requireClaimable(word, billRef);
        // Another claimant's live lock keeps everyone else out; the holder's own lock ends with its claim.
        if (uint40(word >> _UNTIL_SHIFT) > block.timestamp && uint32(word >> _HOLDER_SHIFT) != claimantId) {
            revert BillLockedBy(billRef, uint32(word >> _HOLDER_SHIFT), uint40(word >> _UNTIL_SHIFT));
        }
        uint256 reimbursed = uint64(word >> _SUM_SHIFT);
        // Saturating: the same billRef re-anchored with a smaller total must not underflow.
        uint256 remaining = totalFen > reimbursed ? totalFen - reimbursed : 0;
        if (amountFen == 0) amountFen = remaining;
        // The chain never pays out more than the leaf commits to, and a part reimburses at least 1 fen.
        if (amountFen > remaining || amountFen == 0) revert BillClaimExceedsRemaining(billRef, amountFen, remaining);

        uint256 sum = reimbursed + amountFen;
        uint256 status = sum == totalFen ? uint256(BillStatus.Reimbursed) : uint256(BillStatus.PartlyReimbursed);
        bills[billRef] =
            (block.timestamp << _AT_SHIFT) | (uint256(claimantId) << _BY_SHIFT) | (sum << _SUM_SHIFT) | status;
        return (amountFen, remaining - amountFen);
    }

    /// @dev Void or convert (issuerId, billRef), by its issuer: only while nothing was reimbursed and unlocked.
    function _settleByIssuer(uint32 issuerId, bytes32 billRef, BillStatus status, uint8 reasonCode) private {
        mapping(bytes32 => uint256) storage bills = _bills[issuerId];
        uint256 word = bills[billRef];
        _requireClaimable(word, billRef);
        uint256 reimbursed = uint64(word >> _SUM_SHIFT);
        // Money already paid out on the bill: reversing or moving it to paper would let it be paid twice.
        if (reimbursed != 0) revert BillReimbursementStarted(billRef, reimbursed);
        // A claimant is reviewing it; the issuer waits for the release or the expiry.
        _requireNoLiveLock(word, billRef);
        bills[billRef] = (uint256(reasonCode) << _REASON_SHIFT) | (block.timestamp << _AT_SHIFT)
            | (uint256(issuerId) << _BY_SHIFT) | uint256(status);
    }

    /// @dev Reverts when the bill is Reimbursed, Voided or ConvertedToPaper: nothing more happens to it.
    function _requireClaimable(uint256 word, bytes32 billRef) private view {
        uint8 status = uint8(word);
        if (status <= uint8(BillStatus.PartlyReimbursed)) return;
        uint32 by = uint32(word >> _BY_SHIFT);
        uint64 at = uint40(word >> _AT_SHIFT);
        if (status == uint8(BillStatus.Reimbursed)) revert BillAlreadyReimbursed(billRef, by, at);
        if (status == uint8(BillStatus.Voided)) revert BillAlreadyVoided(billRef, by, at);
        revert BillOnPaper(billRef, _paperNumbers[by][billRef], at);
    }

    function _requireNoLiveLock(uint256 word, bytes32 billRef) private view {
        uint64 until = uint40(word >> _UNTIL_SHIFT);
        if (until > block.timestamp) revert BillLockedBy(billRef, uint32(word >> _HOLDER_SHIFT), until);
    }

    /// @dev Reverts unless `deadline` has not passed and `signer` signed `structHash` in this registry's domain.
    function _checkSigned(address signer, bytes32 structHash, uint256 deadline, bytes calldata signature)
        private
        view
    {
        // A request is good for a bounded time only, so a forgotten signature cannot be used years later.
        if (block.timestamp > deadline) revert OrgRequestExpired(deadline);
        (address recovered, ECDSA.RecoverError err,) =
            ECDSA.tryRecoverCalldata(_typedDataHash(structHash), signature);
        // Proof of possession: only the key's holder can produce this signature.
        if (err != ECDSA.RecoverError.NoError || recovered != signer) revert OrgSignatureInvalid(signer, recovered);
    }

    /// @dev The EIP-712 digest of `structHash`; the domain is rebuilt each time, so a chain fork cannot replay it.
    function _typedDataHash(bytes32 structHash) private view returns (bytes32) {
        bytes32 domain = keccak256(abi.encode(_DOMAIN_TYPEHASH, _HASHED_NAME, _HASHED_VERSION, block.chainid, this));
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    /// @dev A key is bound to one organisation for ever, so its old bills always resolve to that organisation.
    function _requireUnusedKey(address key) private view {
        uint32 owner = uint32(_keys[key]);
        if (owner != 0) revert OrgKeyAlreadyUsed(key, owner);
    }

    /// @dev The stored organisation `orgId`, which must exist and not be revoked.
    function _activeOrgStorage(uint32 orgId) private view returns (OrgStorage storage org) {
        org = _orgs[orgId];
        // Only admitted organisations have a key to move or a cut-off to record.
        if (org.kind == OrgKind.None) revert OrgNotRegistered(orgId);
        // The first cut-off stands: moving it later would re-validate bills issued after it.
        if (org.revokedAt != 0) revert OrgAlreadyRevoked(orgId, org.revokedAt);
    }

    function _fillRecord(BillRecord memory record, uint32 issuerId, uint256 anchored, bytes32 billRef) private view {
        address key = address(uint160(anchored));
        record.issuerId = issuerId;
        record.anchoredBy = key;
        record.anchoredAt = uint64(anchored >> 160);
        record.issuerRevokedAt = _orgs[issuerId].revokedAt;
        record.anchorKeyRotatedAt = uint40(_keys[key] >> _ROTATED_SHIFT);

        BillState memory state = _unpackBill(_bills[issuerId][billRef]);
        record.status = state.status == BillStatus.Unknown ? BillStatus.Issued : state.status;
        if (state.lockedUntil > block.timestamp) {
            record.lockHolderId = state.lockHolderId;
            record.lockedUntil = state.lockedUntil;
        }
        record.reimbursedFen = state.reimbursedFen;
        record.lastSettledBy = state.lastSettledBy;
        record.lastSettledAt = state.lastSettledAt;
        record.voidReason = state.voidReason;
        if (state.status == BillStatus.ConvertedToPaper) record.paperNumber = _paperNumbers[issuerId][billRef];
        if (state.status == BillStatus.Voided) record.replacementRef = _replacements[issuerId][billRef];
    }

    function _unpackBill(uint256 word) private pure returns (BillState memory) {
        return BillState(
            BillStatus(uint8(word)),
            uint32(word >> _HOLDER_SHIFT),
            uint40(word >> _UNTIL_SHIFT),
            uint64(word >> _SUM_SHIFT),
            uint32(word >> _BY_SHIFT),
            uint40(word >> _AT_SHIFT),
            uint8(word >> _REASON_SHIFT)
        );
    }

    /// @dev Whether every character is in the GB 32100-2015 alphabet and the 18th is the check character.
    function _isCreditCode(string calldata code) private pure returns (bool) {
        bytes calldata b = bytes(code);
        if (b.length != _CREDIT_CODE_LENGTH) return false;
        uint256 weighted;
        uint256 weight = 1;
        for (uint256 i; i < _CREDIT_CODE_LENGTH - 1; ++i) {
            (uint256 value, bool ok) = _creditCodeValue(b[i]);
            if (!ok) return false;
            weighted += value * weight;
            weight = (weight * 3) % 31;
        }
        (uint256 check, bool valid) = _creditCodeValue(b[_CREDIT_CODE_LENGTH - 1]);
        return valid && check == (31 - (weighted % 31)) % 31;
    }

    /// @dev The value of one character in "0123456789ABCDEFGHJKLMNPQRTUWXY" (I, O, S, V, Z are not used).
    function _creditCodeValue(bytes1 char) private pure returns (uint256, bool) {
        uint8 c = uint8(char);
        if (c >= 0x30 && c <= 0x39) return (c - 0x30, true); // 0-9
        if (c >= 0x41 && c <= 0x48) return (c - 0x41 + 10, true); // A-H
        if (c >= 0x4A && c <= 0x4E) return (c - 0x4A + 18, true); // J-N
        if (c >= 0x50 && c <= 0x52) return (c - 0x50 + 23, true); // P-R
        if (c == 0x54 || c == 0x55) return (c - 0x54 + 26, true); // T-U
        if (c >= 0x57 && c <= 0x59) return (c - 0x57 + 28, true); // W-Y
        return (0, false);
    }

    function _roleOf(OrgKind kind) private pure returns (bytes32) {
        return kind == OrgKind.Issuer ? ISSUER_ROLE : CLAIMANT_ROLE;
    }

    function _isOrgRole(bytes32 role) private pure returns (bool) {
        return role == ISSUER_ROLE || role == CLAIMANT_ROLE;
    }
}
