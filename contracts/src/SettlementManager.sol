// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Daily fee settlements payable in USDT0 (6 decimals).
/// @notice The operator (or the owner) creates one settlement per (user, strategyId, dayIndex),
/// ids counted from 1. The user pays it with paySettlement, which pulls the fee to the treasury
/// (approve this contract first). The operator expires a settlement left unpaid.
contract SettlementManager is Ownable {
    using SafeERC20 for IERC20;

    enum Status {
        None,
        Pending,
        Paid,
        Expired
    }

    struct Settlement {
        address user;
        Status status;
        uint256 strategyId;
        uint256 dayIndex;
        uint256 feeAmount;
        uint256 createdAt;
    }

    IERC20 public immutable paymentToken;
    address public treasury;
    address public operator;
    uint256 public settlementCount;
    mapping(uint256 settlementId => Settlement) private _settlements;
    mapping(address user => mapping(uint256 strategyId => mapping(uint256 dayIndex => uint256))) public settlementIdOf;

    event SettlementCreated(
        uint256 indexed settlementId,
        address indexed user,
        uint256 indexed strategyId,
        uint256 dayIndex,
        uint256 feeAmount
    );
    event SettlementPaid(uint256 indexed settlementId, address indexed user, uint256 amount);
    event SettlementExpired(uint256 indexed settlementId);

    error NotOperator(address caller);
    error ZeroAddress();
    error ZeroFee();
    error SettlementExists(uint256 settlementId);
    error UnknownSettlement(uint256 settlementId);
    error NotPending(uint256 settlementId, Status status);
    error NotSettlementUser(uint256 settlementId, address caller);

    constructor(IERC20 paymentToken_, address treasury_) Ownable(msg.sender) {
        if (treasury_ == address(0)) revert ZeroAddress();
        paymentToken = paymentToken_;
        treasury = treasury_;
    }

    modifier onlyOperator() {
        if (msg.sender != owner() && msg.sender != operator) revert NotOperator(msg.sender);
        _;
    }

    function setOperator(address operator_) external onlyOwner {
        operator = operator_;
    }

    function setTreasury(address treasury_) external onlyOwner {
        if (treasury_ == address(0)) revert ZeroAddress();
        treasury = treasury_;
    }

    function createSettlement(address user, uint256 strategyId, uint256 dayIndex, uint256 feeAmount)
        external
        onlyOperator
        returns (uint256 settlementId)
    {
        if (user == address(0)) revert ZeroAddress();
        if (feeAmount == 0) revert ZeroFee();
        uint256 existing = settlementIdOf[user][strategyId][dayIndex];
        if (existing != 0) revert SettlementExists(existing);
        settlementId = ++settlementCount;
        _settlements[settlementId] = Settlement(user, Status.Pending, strategyId, dayIndex, feeAmount, block.timestamp);
        settlementIdOf[user][strategyId][dayIndex] = settlementId;
        emit SettlementCreated(settlementId, user, strategyId, dayIndex, feeAmount);
    }

    function paySettlement(uint256 settlementId) external {
        Settlement storage s = _pending(settlementId);
        if (msg.sender != s.user) revert NotSettlementUser(settlementId, msg.sender);
        s.status = Status.Paid;
        paymentToken.safeTransferFrom(s.user, treasury, s.feeAmount);
        emit SettlementPaid(settlementId, s.user, s.feeAmount);
    }

    function expireSettlement(uint256 settlementId) external onlyOperator {
        _pending(settlementId).status = Status.Expired;
        emit SettlementExpired(settlementId);
    }

    function getSettlement(uint256 settlementId) external view returns (Settlement memory) {
        Settlement memory s = _settlements[settlementId];
        if (s.status == Status.None) revert UnknownSettlement(settlementId);
        return s;
    }

    function _pending(uint256 settlementId) private view returns (Settlement storage s) {
        s = _settlements[settlementId];
        if (s.status == Status.None) revert UnknownSettlement(settlementId);
        if (s.status != Status.Pending) revert NotPending(settlementId, s.status);
    }
}
