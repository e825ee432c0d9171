// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title G8D, the protocol's token (18 decimals).
/// @notice The owner mints, so the dev chain and the tests can hand out tokens.
contract G8DToken is ERC20, Ownable {
    constructor() ERC20("Gr8DIY Token", "G8D") Ownable(msg.sender) {}

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
