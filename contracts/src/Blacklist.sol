// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Blacklist
/// @notice Who refuses to deal with whom. An account adds and removes entries
/// in its own list; the market adds an entry for a consumer who closes a deal
/// with "blacklist". Only the list's owner removes its entries. The market
/// address is fixed once, at deployment, by the deployer.
contract Blacklist {
    /// @notice The account allowed to wire the market in, once.
    address public immutable deployer;
    /// @notice The market allowed to add entries on a consumer's behalf.
    address public market;

    /// @notice True when `who` refuses to deal with `whom`.
    mapping(address who => mapping(address whom => bool)) public isBlacklisted;

    /// @notice `who` refuses to deal with `whom` from now on.
    event Added(address indexed who, address indexed whom);
    /// @notice `who` deals with `whom` again.
    event Removed(address indexed who, address indexed whom);
    /// @notice The market was wired in.
    event MarketSet(address indexed market);

    /// @notice Only the deployer wires the market, and only once.
    error MarketAlreadySet(address market);
    /// @notice Only the deployer may wire the market.
    error NotDeployer(address caller);
    /// @notice Only the market may add entries for another account.
    error NotMarket(address caller);
    /// @notice The entry is already in the list.
    error AlreadyBlacklisted(address who, address whom);
    /// @notice There is no such entry to remove.
    error NotBlacklisted(address who, address whom);
    /// @notice Nobody blacklists the zero address or themselves.
    error InvalidEntry(address who, address whom);

    constructor() {
        deployer = msg.sender;
    }

    /// @notice Wires the market in; callable once, by the deployer.
    function setMarket(address market_) external {
        if (msg.sender != deployer) revert NotDeployer(msg.sender);
        if (market != address(0)) revert MarketAlreadySet(market);
        if (market_ == address(0)) revert InvalidEntry(msg.sender, market_);
        market = market_;
        emit MarketSet(market_);
    }

    /// @notice The caller refuses to deal with `whom`.
    function add(address whom) external {
        if (isBlacklisted[msg.sender][whom]) revert AlreadyBlacklisted(msg.sender, whom);
        _add(msg.sender, whom);
    }

    /// @notice The market records that consumer `who` refuses `whom`; repeating is a no-op.
    function addFor(address who, address whom) external {
        if (msg.sender != market) revert NotMarket(msg.sender);
        if (!isBlacklisted[who][whom]) _add(who, whom);
    }

    /// @notice The caller deals with `whom` again.
    function remove(address whom) external {
        if (!isBlacklisted[msg.sender][whom]) revert NotBlacklisted(msg.sender, whom);
        delete isBlacklisted[msg.sender][whom];
        emit Removed(msg.sender, whom);
    }

    function _add(address who, address whom) private {
        if (whom == address(0) || who == whom) revert InvalidEntry(who, whom);
        isBlacklisted[who][whom] = true;
        emit Added(who, whom);
    }
}
