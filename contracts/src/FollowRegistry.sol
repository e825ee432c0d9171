// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {StrategyRegistry} from "./StrategyRegistry.sol";

/// @title Who follows which strategy.
/// @notice Per (user, strategyId): None --follow--> Active <--pause/resume--> Paused;
/// Active | Paused --stop--> Stopped --follow--> Active. Following and resuming need an active
/// strategy. The settlement (the owner or the settler it names) records the last settled day.
contract FollowRegistry is Ownable {
    enum FollowState {
        None,
        Active,
        Paused,
        Stopped
    }

    struct Follow {
        FollowState state;
        uint256 startDay;
        uint256 lastSettledDay;
    }

    StrategyRegistry public immutable strategies;
    address public settler;
    mapping(address user => mapping(uint256 strategyId => Follow)) private _follows;

    event FollowStarted(address indexed user, uint256 indexed strategyId, uint256 dayIndex);
    event FollowPaused(address indexed user, uint256 indexed strategyId);
    event FollowResumed(address indexed user, uint256 indexed strategyId);
    event FollowStopped(address indexed user, uint256 indexed strategyId);
    event LastSettledDayUpdated(address indexed user, uint256 indexed strategyId, uint256 dayIndex);

    error StrategyNotActive(uint256 strategyId);
    error InvalidFollowState(address user, uint256 strategyId, FollowState state);
    error NotSettler(address caller);
    error DayGoesBackwards(uint256 lastSettledDay, uint256 dayIndex);

    constructor(StrategyRegistry strategies_) Ownable(msg.sender) {
        strategies = strategies_;
    }

    function setSettler(address settler_) external onlyOwner {
        settler = settler_;
    }

    function follow(uint256 strategyId) external {
        _requireActiveStrategy(strategyId);
        Follow storage f = _follows[msg.sender][strategyId];
        if (f.state != FollowState.None && f.state != FollowState.Stopped) {
            revert InvalidFollowState(msg.sender, strategyId, f.state);
        }
        uint256 dayIndex = block.timestamp / 1 days;
        f.state = FollowState.Active;
        f.startDay = dayIndex;
        emit FollowStarted(msg.sender, strategyId, dayIndex);
    }

    function pause(uint256 strategyId) external {
        _transition(strategyId, FollowState.Active, FollowState.Paused);
        emit FollowPaused(msg.sender, strategyId);
    }

    function resume(uint256 strategyId) external {
        _requireActiveStrategy(strategyId);
        _transition(strategyId, FollowState.Paused, FollowState.Active);
        emit FollowResumed(msg.sender, strategyId);
    }

    function stop(uint256 strategyId) external {
        Follow storage f = _follows[msg.sender][strategyId];
        if (f.state != FollowState.Active && f.state != FollowState.Paused) {
            revert InvalidFollowState(msg.sender, strategyId, f.state);
        }
        f.state = FollowState.Stopped;
        emit FollowStopped(msg.sender, strategyId);
    }

    /// @notice Records that (user, strategyId) is settled up to dayIndex; it never goes back.
    function setLastSettledDay(address user, uint256 strategyId, uint256 dayIndex) external {
        if (msg.sender != owner() && msg.sender != settler) revert NotSettler(msg.sender);
        Follow storage f = _follows[user][strategyId];
        if (f.state == FollowState.None) revert InvalidFollowState(user, strategyId, f.state);
        if (dayIndex < f.lastSettledDay) revert DayGoesBackwards(f.lastSettledDay, dayIndex);
        f.lastSettledDay = dayIndex;
        emit LastSettledDayUpdated(user, strategyId, dayIndex);
    }

    function stateOf(address user, uint256 strategyId) external view returns (FollowState) {
        return _follows[user][strategyId].state;
    }

    function getFollow(address user, uint256 strategyId) external view returns (Follow memory) {
        return _follows[user][strategyId];
    }

    function _requireActiveStrategy(uint256 strategyId) private view {
        if (!strategies.isActive(strategyId)) revert StrategyNotActive(strategyId);
    }

    function _transition(uint256 strategyId, FollowState from, FollowState to) private {
        Follow storage f = _follows[msg.sender][strategyId];
        if (f.state != from) revert InvalidFollowState(msg.sender, strategyId, f.state);
        f.state = to;
    }
}
