// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Stand-in for USDT0 (6 decimals) on the dev chain and in the tests.
/// @notice The owner mints. Production deployments point at the real USDT0 instead.
contract USDT0 is ERC20, Ownable {
    constructor() ERC20("USDT0 (dev)", "USDT0") Ownable(msg.sender) {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
