// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Registry of strategies and their review lifecycle.
/// @notice Ids count from 0. The author drives a strategy forward (update, request verification,
/// request activation); the owner and the reviewers it names decide (verify, activate, suspend,
/// reject).
///
///   Draft --requestVerification--> VerificationRequested --verify--> Verified
///   Verified --requestActivation--> ActivationRequested --activate--> Active
///   Active --suspend--> Suspended --activate--> Active
///   VerificationRequested | ActivationRequested --reject--> Rejected
///   any status but Active --updateStrategy--> Draft (the content changed: review it again)
contract StrategyRegistry is Ownable {
    enum Status {
        Draft,
        VerificationRequested,
        Verified,
        ActivationRequested,
        Active,
        Suspended,
        Rejected
    }

    struct Strategy {
        address author;
        Status status;
        string metadataURI;
        bytes32 verificationHash;
        uint256 verificationScore;
    }

    Strategy[] private _strategies;
    mapping(address account => bool) public isReviewer;

    event StrategyCreated(uint256 indexed strategyId, address indexed author, string metadataURI);
    event StrategyUpdated(uint256 indexed strategyId, string metadataURI);
    event VerificationRequested(uint256 indexed strategyId);
    event StrategyVerified(uint256 indexed strategyId, bytes32 verificationHash, uint256 verificationScore);
    event ActivationRequested(uint256 indexed strategyId);
    event StrategyActivated(uint256 indexed strategyId);
    event StrategySuspended(uint256 indexed strategyId);
    event StrategyRejected(uint256 indexed strategyId);

    error UnknownStrategy(uint256 strategyId);
    error NotAuthor(uint256 strategyId, address caller);
    error NotReviewer(address caller);
    error InvalidStatus(uint256 strategyId, Status status);
    error EmptyMetadataURI();

    constructor() Ownable(msg.sender) {}

    modifier onlyAuthor(uint256 strategyId) {
        if (_strategy(strategyId).author != msg.sender) revert NotAuthor(strategyId, msg.sender);
        _;
    }

    modifier onlyReviewer() {
        if (msg.sender != owner() && !isReviewer[msg.sender]) revert NotReviewer(msg.sender);
        _;
    }

    function setReviewer(address account, bool allowed) external onlyOwner {
        isReviewer[account] = allowed;
    }

    function createStrategy(string calldata metadataURI) external returns (uint256 strategyId) {
        if (bytes(metadataURI).length == 0) revert EmptyMetadataURI();
        strategyId = _strategies.length;
        _strategies.push(Strategy(msg.sender, Status.Draft, metadataURI, bytes32(0), 0));
        emit StrategyCreated(strategyId, msg.sender, metadataURI);
    }

    function updateStrategy(uint256 strategyId, string calldata metadataURI) external onlyAuthor(strategyId) {
        if (bytes(metadataURI).length == 0) revert EmptyMetadataURI();
        Strategy storage s = _strategies[strategyId];
        if (s.status == Status.Active) revert InvalidStatus(strategyId, s.status);
        s.metadataURI = metadataURI;
        s.status = Status.Draft;
        emit StrategyUpdated(strategyId, metadataURI);
    }

    function requestVerification(uint256 strategyId) external onlyAuthor(strategyId) {
        _transition(strategyId, Status.Draft, Status.VerificationRequested);
        emit VerificationRequested(strategyId);
    }

    function verifyStrategy(uint256 strategyId, bytes32 verificationHash, uint256 verificationScore)
        external
        onlyReviewer
    {
        _transition(strategyId, Status.VerificationRequested, Status.Verified);
        Strategy storage s = _strategies[strategyId];
        s.verificationHash = verificationHash;
        s.verificationScore = verificationScore;
        emit StrategyVerified(strategyId, verificationHash, verificationScore);
    }

    function requestActivation(uint256 strategyId) external onlyAuthor(strategyId) {
        _transition(strategyId, Status.Verified, Status.ActivationRequested);
        emit ActivationRequested(strategyId);
    }

    /// @notice Activates a requested strategy, or reactivates a suspended one.
    function activateStrategy(uint256 strategyId) external onlyReviewer {
        Strategy storage s = _strategy(strategyId);
        if (s.status != Status.ActivationRequested && s.status != Status.Suspended) {
            revert InvalidStatus(strategyId, s.status);
        }
        s.status = Status.Active;
        emit StrategyActivated(strategyId);
    }

    function suspendStrategy(uint256 strategyId) external onlyReviewer {
        _transition(strategyId, Status.Active, Status.Suspended);
        emit StrategySuspended(strategyId);
    }

    function rejectStrategy(uint256 strategyId) external onlyReviewer {
        Strategy storage s = _strategy(strategyId);
        if (s.status != Status.VerificationRequested && s.status != Status.ActivationRequested) {
            revert InvalidStatus(strategyId, s.status);
        }
        s.status = Status.Rejected;
        emit StrategyRejected(strategyId);
    }

    function strategyCount() external view returns (uint256) {
        return _strategies.length;
    }

    function authorOf(uint256 strategyId) external view returns (address) {
        return _strategy(strategyId).author;
    }

    function statusOf(uint256 strategyId) external view returns (Status) {
        return _strategy(strategyId).status;
    }

    function isActive(uint256 strategyId) external view returns (bool) {
        return _strategy(strategyId).status == Status.Active;
    }

    function getStrategy(uint256 strategyId) external view returns (Strategy memory) {
        return _strategy(strategyId);
    }

    function _strategy(uint256 strategyId) private view returns (Strategy storage) {
        if (strategyId >= _strategies.length) revert UnknownStrategy(strategyId);
        return _strategies[strategyId];
    }

    function _transition(uint256 strategyId, Status from, Status to) private {
        Strategy storage s = _strategy(strategyId);
        if (s.status != from) revert InvalidStatus(strategyId, s.status);
        s.status = to;
    }
}
