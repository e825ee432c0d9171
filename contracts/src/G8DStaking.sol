// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Stake G8D for a tier.
/// @notice stake(amount) locks G8D; MIN_LOCK after the last stake, requestUnstake(amount) starts a
/// COOLDOWN; after it, withdraw() pays the requested amount. One request is pending at a time.
/// The staked balance (and so the tier) counts the requested amount until it is withdrawn, exactly
/// as the indexer sums it: Σ Staked − Σ Withdrawn.
contract G8DStaking {
    using SafeERC20 for IERC20;

    uint256 public constant MIN_LOCK = 15 days;
    uint256 public constant COOLDOWN = 7 days;

    uint256 public constant TIER1 = 5_000 ether;
    uint256 public constant TIER2 = 20_000 ether;
    uint256 public constant TIER3 = 50_000 ether;
    uint256 public constant TIER4 = 200_000 ether;
    uint256 public constant TIER5 = 1_000_000 ether;

    struct Position {
        uint256 staked; // includes pendingUnstake until it is withdrawn
        uint256 lastStakeAt;
        uint256 pendingUnstake;
        uint256 unstakeRequestedAt;
    }

    IERC20 public immutable token;
    uint256 public totalStaked;
    mapping(address user => Position) public positions;

    event Staked(address indexed user, uint256 amount, uint256 timestamp);
    event UnstakeRequested(address indexed user, uint256 amount, uint256 timestamp);
    event Withdrawn(address indexed user, uint256 amount, uint256 timestamp);

    error ZeroAmount();
    error StillLocked(uint256 unlocksAt);
    error UnstakeAlreadyRequested(uint256 pendingAmount);
    error InsufficientStake(uint256 staked, uint256 requested);
    error NoUnstakeRequested();
    error CooldownNotOver(uint256 endsAt);

    constructor(IERC20 token_) {
        token = token_;
    }

    function stake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Position storage p = positions[msg.sender];
        p.staked += amount;
        p.lastStakeAt = block.timestamp;
        totalStaked += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Staked(msg.sender, amount, block.timestamp);
    }

    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Position storage p = positions[msg.sender];
        if (p.pendingUnstake != 0) revert UnstakeAlreadyRequested(p.pendingUnstake);
        if (amount > p.staked) revert InsufficientStake(p.staked, amount);
        uint256 unlocksAt = p.lastStakeAt + MIN_LOCK;
        if (block.timestamp < unlocksAt) revert StillLocked(unlocksAt);
        p.pendingUnstake = amount;
        p.unstakeRequestedAt = block.timestamp;
        emit UnstakeRequested(msg.sender, amount, block.timestamp);
    }

    function withdraw() external {
        Position storage p = positions[msg.sender];
        uint256 amount = p.pendingUnstake;
        if (amount == 0) revert NoUnstakeRequested();
        uint256 endsAt = p.unstakeRequestedAt + COOLDOWN;
        if (block.timestamp < endsAt) revert CooldownNotOver(endsAt);
        p.pendingUnstake = 0;
        p.unstakeRequestedAt = 0;
        p.staked -= amount;
        totalStaked -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount, block.timestamp);
    }

    function stakedOf(address user) external view returns (uint256) {
        return positions[user].staked;
    }

    function tierOf(address user) external view returns (uint8) {
        return tierForAmount(positions[user].staked);
    }

    /// @notice Tier 0..5 of a staked amount in G8D wei.
    function tierForAmount(uint256 amount) public pure returns (uint8) {
        if (amount >= TIER5) return 5;
        if (amount >= TIER4) return 4;
        if (amount >= TIER3) return 3;
        if (amount >= TIER2) return 2;
        if (amount >= TIER1) return 1;
        return 0;
    }
}
