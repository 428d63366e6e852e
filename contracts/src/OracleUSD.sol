// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title OracleUSD
/// @notice How many token units (wei) one US dollar buys, i.e. the token amount
/// for 1e18 USD-wei. Set by a multisig of price feeders: a value takes effect
/// once `threshold` distinct feeders have proposed exactly it in the current
/// round. Each accepted value must lie within the fixed bounds and move at most
/// a factor of `MAX_STEP` from the previous one, so one bad feed (or a typo)
/// cannot make every deal free or ruinous. The same multisig replaces the
/// feeder set; nobody else can touch the oracle.
contract OracleUSD {
    /// @notice Largest factor between two consecutive prices.
    uint256 public constant MAX_STEP = 2;
    /// @notice Most feeders a set may hold (votes are a bitmask).
    uint256 public constant MAX_FEEDERS = 64;

    /// @notice Token wei per USD now in force.
    uint256 public price;
    /// @notice Lowest price ever accepted.
    uint256 public immutable minPrice;
    /// @notice Highest price ever accepted (kept below 2^128 so billing cannot overflow).
    uint256 public immutable maxPrice;
    /// @notice Feeder votes needed to accept a proposal.
    uint256 public threshold;
    /// @notice Bumped whenever a proposal is accepted; older votes lapse.
    uint256 public round;

    address[] private feederList;
    mapping(address => uint256) private feederBit;
    /// round => proposal hash => bitmask of feeders who voted for it
    mapping(uint256 => mapping(bytes32 => uint256)) private votes;

    /// @notice A feeder voted for a new price.
    event PriceProposed(uint256 indexed round, address indexed feeder, uint256 price);
    /// @notice A new price is in force.
    event PriceChanged(uint256 indexed round, uint256 price);
    /// @notice A feeder voted for a new feeder set.
    event FeedersProposed(uint256 indexed round, address indexed feeder, address[] feeders, uint256 threshold);
    /// @notice A new feeder set is in force.
    event FeedersChanged(uint256 indexed round, address[] feeders, uint256 threshold);

    /// @notice The caller is not one of the feeders.
    error NotFeeder(address caller);
    /// @notice The price lies outside the oracle's fixed bounds.
    error PriceOutOfBounds(uint256 price, uint256 minPrice, uint256 maxPrice);
    /// @notice The price moves more than MAX_STEP times from the current one.
    error PriceStepTooLarge(uint256 current, uint256 proposed, uint256 maxStep);
    /// @notice This feeder already voted for this proposal in this round.
    error AlreadyVoted(address feeder, uint256 round);
    /// @notice A feeder set must be 1..MAX_FEEDERS distinct non-zero addresses
    /// with 1 <= threshold <= its size.
    error InvalidFeederSet(uint256 feeders, uint256 threshold);
    /// @notice Bounds must satisfy 0 < min <= initial <= max < 2^128.
    error InvalidBounds(uint256 minPrice, uint256 initialPrice, uint256 maxPrice);

    constructor(address[] memory feeders_, uint256 threshold_, uint256 initialPrice, uint256 minPrice_, uint256 maxPrice_) {
        if (minPrice_ == 0 || minPrice_ > initialPrice || initialPrice > maxPrice_ || maxPrice_ >= 2 ** 128) {
            revert InvalidBounds(minPrice_, initialPrice, maxPrice_);
        }
        minPrice = minPrice_;
        maxPrice = maxPrice_;
        price = initialPrice;
        _setFeeders(feeders_, threshold_);
        emit PriceChanged(0, initialPrice);
    }

    /// @notice The feeders now in force.
    function feeders() external view returns (address[] memory) {
        return feederList;
    }

    /// @notice Vote for `newPrice`; it takes effect with the threshold-th vote.
    function proposePrice(uint256 newPrice) external {
        if (newPrice < minPrice || newPrice > maxPrice) revert PriceOutOfBounds(newPrice, minPrice, maxPrice);
        uint256 current = price;
        if (newPrice > current * MAX_STEP || newPrice * MAX_STEP < current) {
            revert PriceStepTooLarge(current, newPrice, MAX_STEP);
        }
        uint256 r = round;
        emit PriceProposed(r, msg.sender, newPrice);
        if (_vote(keccak256(abi.encode("price", newPrice)))) {
            price = newPrice;
            emit PriceChanged(r + 1, newPrice);
        }
    }

    /// @notice Vote to replace the feeder set and threshold.
    function proposeFeeders(address[] calldata newFeeders, uint256 newThreshold) external {
        _checkFeederSet(newFeeders, newThreshold);
        uint256 r = round;
        emit FeedersProposed(r, msg.sender, newFeeders, newThreshold);
        if (_vote(keccak256(abi.encode("feeders", newFeeders, newThreshold)))) {
            for (uint256 i = 0; i < feederList.length; i++) delete feederBit[feederList[i]];
            delete feederList;
            _setFeeders(newFeeders, newThreshold);
            emit FeedersChanged(r + 1, newFeeders, newThreshold);
        }
    }

    /// Records the caller's vote; true (and a new round) once the proposal has enough votes.
    function _vote(bytes32 proposal) private returns (bool accepted) {
        uint256 bit = feederBit[msg.sender];
        if (bit == 0) revert NotFeeder(msg.sender);
        uint256 r = round;
        uint256 mask = votes[r][proposal];
        if (mask & bit != 0) revert AlreadyVoted(msg.sender, r);
        mask |= bit;
        votes[r][proposal] = mask;
        uint256 count = 0;
        for (; mask != 0; mask &= mask - 1) count++;
        if (count < threshold) return false;
        round = r + 1;
        return true;
    }

    function _checkFeederSet(address[] memory set, uint256 threshold_) private pure {
        uint256 n = set.length;
        if (n == 0 || n > MAX_FEEDERS || threshold_ == 0 || threshold_ > n) revert InvalidFeederSet(n, threshold_);
        for (uint256 i = 0; i < n; i++) {
            if (set[i] == address(0)) revert InvalidFeederSet(n, threshold_);
            for (uint256 j = 0; j < i; j++) {
                if (set[i] == set[j]) revert InvalidFeederSet(n, threshold_);
            }
        }
    }

    function _setFeeders(address[] memory set, uint256 threshold_) private {
        _checkFeederSet(set, threshold_);
        for (uint256 i = 0; i < set.length; i++) {
            feederList.push(set[i]);
            feederBit[set[i]] = 1 << i;
        }
        threshold = threshold_;
    }
}
