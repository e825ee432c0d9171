// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title Daily Merkle roots of each strategy's filled executions.
/// @notice The relayer (set by the owner) commits one root per (strategyId, dayIndex), once.
/// Leaves follow OpenZeppelin's StandardMerkleTree: see hashLeaf.
contract DecisionHistory is Ownable {
    struct BatchInfo {
        uint256 orderCount;
        uint256 totalVolume;
        uint256 avgPrice;
    }

    address public relayer;
    mapping(uint256 strategyId => mapping(uint256 dayIndex => bytes32)) private _roots;

    event DayCommitted(uint256 indexed strategyId, uint256 indexed dayIndex, bytes32 rootHash, BatchInfo batchInfo);

    error NotRelayer(address caller);
    error EmptyRoot();
    error DayAlreadyCommitted(uint256 strategyId, uint256 dayIndex, bytes32 rootHash);

    constructor(address relayer_) Ownable(msg.sender) {
        relayer = relayer_;
    }

    function setRelayer(address relayer_) external onlyOwner {
        relayer = relayer_;
    }

    function commitDay(uint256 strategyId, uint256 dayIndex, bytes32 rootHash, BatchInfo calldata batchInfo)
        external
    {
        if (msg.sender != relayer) revert NotRelayer(msg.sender);
        if (rootHash == bytes32(0)) revert EmptyRoot();
        bytes32 existing = _roots[strategyId][dayIndex];
        if (existing != bytes32(0)) revert DayAlreadyCommitted(strategyId, dayIndex, existing);
        _roots[strategyId][dayIndex] = rootHash;
        emit DayCommitted(strategyId, dayIndex, rootHash, batchInfo);
    }

    /// @notice The committed root, or zero when the day was not committed.
    function rootOf(uint256 strategyId, uint256 dayIndex) external view returns (bytes32) {
        return _roots[strategyId][dayIndex];
    }

    /// @notice MerkleProof.verify, exposed so off-chain code can check its proofs on chain.
    function verifyLeaf(bytes32 root, bytes32[] calldata proof, bytes32 leaf) public pure returns (bool) {
        return MerkleProof.verify(proof, root, leaf);
    }

    /// @notice Whether leaf belongs to the committed root of (strategyId, dayIndex).
    function verifyExecution(uint256 strategyId, uint256 dayIndex, bytes32[] calldata proof, bytes32 leaf)
        external
        view
        returns (bool)
    {
        bytes32 root = _roots[strategyId][dayIndex];
        return root != bytes32(0) && MerkleProof.verify(proof, root, leaf);
    }

    /// @notice The StandardMerkleTree leaf of one execution:
    /// keccak256(bytes.concat(keccak256(abi.encode(executionId, userId, side, amount, price, executedAt)))),
    /// side 0 = BUY / 1 = SELL, amount and price scaled by 10^8, executedAt in unix seconds.
    function hashLeaf(
        bytes16 executionId,
        bytes16 userId,
        uint8 side,
        uint256 amount,
        uint256 executedPrice,
        uint256 executedAt
    ) external pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(executionId, userId, side, amount, executedPrice, executedAt))));
    }
}
