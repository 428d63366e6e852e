// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title ProfileRegistry
/// @notice Identity certificates and the identity level derived from them.
/// A certificate says: validator V attests that `owner` has `attribute` =
/// `value`. Attributes below 1100 are self-issued (owner == issuer); from 1100
/// on the issuer must be a validator of level >= max(1, (attribute / 100) % 10).
/// Attributes with attribute / 1000 == 2 may hold several values; others hold
/// one value, which later certificates must repeat. An account's identity
/// level: 1401 present -> PROFESSIONAL, 1301 -> IDENTIFIED, 1201 ->
/// REGISTERED, else ANONYMOUS. The admin appoints validators and nothing
/// else: it cannot create or remove anybody's certificates.
contract ProfileRegistry {
    /// @notice Identity levels, as numbers orders carry.
    uint8 public constant ANONYMOUS = 1;
    /// @notice Holds a 1201 (KYC2) certificate.
    uint8 public constant REGISTERED = 2;
    /// @notice Holds a 1301 (KYC3) certificate.
    uint8 public constant IDENTIFIED = 3;
    /// @notice Holds a 1401 (KYC4) certificate.
    uint8 public constant PROFESSIONAL = 4;
    /// @notice Highest validator level (the level digit of an attribute).
    uint8 public constant MAX_VALIDATOR_LEVEL = 9;

    /// @notice A certificate as stored; `value` is opaque bytes (UTF-8 text for named attributes).
    struct Certificate {
        address validator;
        address owner;
        uint32 attribute;
        bytes value;
    }

    /// @notice Appoints validators.
    address public admin;
    /// @notice Proposed new admin, who must accept.
    address public pendingAdmin;
    /// @notice Validator level; 0 = not a validator.
    mapping(address => uint8) public validatorLevel;
    /// @notice Number of certificates ever created (ids start at 1).
    uint256 public certificateCount;

    mapping(uint256 => Certificate) private certificates;
    mapping(address owner => mapping(uint256 attribute => uint256)) private attributeCount;
    mapping(address owner => mapping(uint256 attribute => bytes32)) private singleValueHash;

    /// @notice A validator was appointed or its level changed (0 = removed).
    event ValidatorSet(address indexed validator, uint8 level);
    /// @notice A certificate was created, with everything an indexer needs.
    event CertificateCreated(uint256 indexed id, address indexed owner, address indexed validator, uint32 attribute, bytes value);
    /// @notice A certificate was removed.
    event CertificateRemoved(uint256 indexed id, address indexed owner, address indexed validator, uint32 attribute);
    /// @notice Admin handover proposed.
    event AdminProposed(address indexed admin, address indexed pendingAdmin);
    /// @notice Admin handover accepted.
    event AdminChanged(address indexed admin);

    /// @notice Only the admin may do this.
    error NotAdmin(address caller);
    /// @notice Only the proposed admin may accept.
    error NotPendingAdmin(address caller);
    /// @notice Validator levels are 0 (removed) to MAX_VALIDATOR_LEVEL.
    error InvalidValidatorLevel(uint8 level);
    /// @notice Attributes are numbers from 1000 to 9999.
    error InvalidAttribute(uint256 attribute);
    /// @notice Attributes below 1100 are issued by their owner only.
    error NotSelfIssued(address issuer, address owner, uint256 attribute);
    /// @notice The issuer's validator level is below the attribute's level digit.
    error ValidatorLevelTooLow(address issuer, uint8 level, uint8 required);
    /// @notice A certificate value may not be empty.
    error EmptyValue();
    /// @notice A single-valued attribute already holds a different value.
    error ValueMismatch(address owner, uint256 attribute);
    /// @notice No certificate with this id.
    error NoSuchCertificate(uint256 id);
    /// @notice Only the certificate's owner or issuing validator may remove it.
    error NotCertificateParty(address caller, uint256 id);

    constructor(address admin_) {
        admin = admin_;
        emit AdminChanged(admin_);
    }

    /// @notice Appoint, re-level (1..9) or remove (0) a validator.
    function setValidator(address validator, uint8 level) external {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        if (level > MAX_VALIDATOR_LEVEL) revert InvalidValidatorLevel(level);
        validatorLevel[validator] = level;
        emit ValidatorSet(validator, level);
    }

    /// @notice First step of handing the admin role over.
    function proposeAdmin(address next) external {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        pendingAdmin = next;
        emit AdminProposed(admin, next);
    }

    /// @notice Second step: the proposed admin takes over.
    function acceptAdmin() external {
        if (msg.sender != pendingAdmin) revert NotPendingAdmin(msg.sender);
        admin = msg.sender;
        pendingAdmin = address(0);
        emit AdminChanged(msg.sender);
    }

    /// @notice The caller attests `owner`'s `attribute` = `value`.
    function createCertificate(address owner, uint32 attribute, bytes calldata value) external returns (uint256 id) {
        if (attribute < 1000 || attribute > 9999) revert InvalidAttribute(attribute);
        if (attribute < 1100) {
            if (msg.sender != owner) revert NotSelfIssued(msg.sender, owner, attribute);
        } else {
            // Every attribute from 1100 on needs a validator, even one whose level digit is 0.
            uint8 digit = uint8((attribute / 100) % 10);
            uint8 required = digit == 0 ? 1 : digit;
            uint8 level = validatorLevel[msg.sender];
            if (level < required) revert ValidatorLevelTooLow(msg.sender, level, required);
        }
        if (value.length == 0) revert EmptyValue();
        if (attribute / 1000 != 2) {
            bytes32 h = keccak256(value);
            bytes32 held = singleValueHash[owner][attribute];
            if (held == bytes32(0)) singleValueHash[owner][attribute] = h;
            else if (held != h) revert ValueMismatch(owner, attribute);
        }
        attributeCount[owner][attribute] += 1;
        id = ++certificateCount;
        certificates[id] = Certificate(msg.sender, owner, attribute, value);
        emit CertificateCreated(id, owner, msg.sender, attribute, value);
    }

    /// @notice The owner or the issuing validator withdraws a certificate.
    function removeCertificate(uint256 id) external {
        Certificate storage c = certificates[id];
        address owner = c.owner;
        if (owner == address(0)) revert NoSuchCertificate(id);
        if (msg.sender != owner && msg.sender != c.validator) revert NotCertificateParty(msg.sender, id);
        uint32 attribute = c.attribute;
        address validator = c.validator;
        uint256 left = attributeCount[owner][attribute] - 1;
        attributeCount[owner][attribute] = left;
        if (left == 0) delete singleValueHash[owner][attribute];
        delete certificates[id];
        emit CertificateRemoved(id, owner, validator, attribute);
    }

    /// @notice One certificate by id (owner is zero when it does not exist).
    function certificate(uint256 id) external view returns (Certificate memory) {
        return certificates[id];
    }

    /// @notice How many live certificates `owner` holds for `attribute`.
    function attributeCountOf(address owner, uint256 attribute) external view returns (uint256) {
        return attributeCount[owner][attribute];
    }

    /// @notice The identity level derived from `owner`'s certificates.
    function identityLevel(address owner) external view returns (uint8) {
        if (attributeCount[owner][1401] > 0) return PROFESSIONAL;
        if (attributeCount[owner][1301] > 0) return IDENTIFIED;
        if (attributeCount[owner][1201] > 0) return REGISTERED;
        return ANONYMOUS;
    }
}
