// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FogToken
/// @notice The market's payment token: a plain ERC-20 with 18 decimals and a
/// fixed supply minted once to `holder`. The supply is capped below 2^96 so
/// that every amount the market stores fits its packed 96-bit fields.
contract FogToken is ERC20 {
    /// @notice The largest supply the market's packed storage can account for.
    uint256 public constant MAX_SUPPLY = type(uint96).max;

    /// @notice The requested supply does not fit the market's 96-bit amounts.
    error SupplyTooLarge(uint256 supply, uint256 maxSupply);

    constructor(address holder, uint256 supply) ERC20("Fog Token", "FOG") {
        if (supply > MAX_SUPPLY) revert SupplyTooLarge(supply, MAX_SUPPLY);
        _mint(holder, supply);
    }
}
