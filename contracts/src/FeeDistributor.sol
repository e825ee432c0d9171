// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Splits collected USDT0 fees among the platform, the buyback and the authors.
/// @notice Fees arrive as plain transfers (SettlementManager's treasury can be this contract).
/// Once per day the operator (or the owner) pays the platform and buyback shares out of the
/// unreserved balance and reserves the author share in a pool; from the pool it credits authors
/// per strategy, and each author withdraws its own balance.
contract FeeDistributor is Ownable {
    using SafeERC20 for IERC20;

    IERC20 public immutable paymentToken;
    address public platformWallet;
    address public buybackWallet;
    address public operator;

    /// @notice Author share reserved by distributeDailyFees and not yet credited to an author.
    uint256 public authorPool;
    /// @notice Credited to authors and not yet withdrawn.
    uint256 public totalAuthorBalances;
    mapping(uint256 dayIndex => bool) public dayDistributed;
    mapping(uint256 strategyId => mapping(address author => uint256)) public authorBalanceOf;

    event DailyFeesDistributed(uint256 indexed dayIndex, uint256 platformFee, uint256 buybackFee, uint256 authorFee);
    event AuthorFeeDistributed(uint256 indexed strategyId, address indexed author, uint256 amount, uint256 dayIndex);
    event AuthorFeesWithdrawn(uint256 indexed strategyId, address indexed author, uint256 amount);

    error NotOperator(address caller);
    error ZeroAddress();
    error ZeroAmount();
    error DayAlreadyDistributed(uint256 dayIndex);
    error InsufficientFunds(uint256 available, uint256 required);
    error NothingToWithdraw(uint256 strategyId, address author);

    constructor(IERC20 paymentToken_, address platformWallet_, address buybackWallet_) Ownable(msg.sender) {
        paymentToken = paymentToken_;
        _setWallets(platformWallet_, buybackWallet_);
    }

    modifier onlyOperator() {
        if (msg.sender != owner() && msg.sender != operator) revert NotOperator(msg.sender);
        _;
    }

    function setOperator(address operator_) external onlyOwner {
        operator = operator_;
    }

    function setWallets(address platformWallet_, address buybackWallet_) external onlyOwner {
        _setWallets(platformWallet_, buybackWallet_);
    }

    /// @notice Balance not yet reserved for authors.
    function undistributed() public view returns (uint256) {
        return paymentToken.balanceOf(address(this)) - authorPool - totalAuthorBalances;
    }

    function distributeDailyFees(uint256 dayIndex, uint256 platformFee, uint256 buybackFee, uint256 authorFee)
        external
        onlyOperator
    {
        if (dayDistributed[dayIndex]) revert DayAlreadyDistributed(dayIndex);
        uint256 required = platformFee + buybackFee + authorFee;
        uint256 available = undistributed();
        if (required > available) revert InsufficientFunds(available, required);
        dayDistributed[dayIndex] = true;
        authorPool += authorFee;
        if (platformFee != 0) paymentToken.safeTransfer(platformWallet, platformFee);
        if (buybackFee != 0) paymentToken.safeTransfer(buybackWallet, buybackFee);
        emit DailyFeesDistributed(dayIndex, platformFee, buybackFee, authorFee);
    }

    function distributeAuthorFee(uint256 strategyId, address author, uint256 amount, uint256 dayIndex)
        external
        onlyOperator
    {
        if (author == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        if (amount > authorPool) revert InsufficientFunds(authorPool, amount);
        authorPool -= amount;
        totalAuthorBalances += amount;
        authorBalanceOf[strategyId][author] += amount;
        emit AuthorFeeDistributed(strategyId, author, amount, dayIndex);
    }

    function withdrawAuthorFees(uint256 strategyId) external {
        uint256 amount = authorBalanceOf[strategyId][msg.sender];
        if (amount == 0) revert NothingToWithdraw(strategyId, msg.sender);
        authorBalanceOf[strategyId][msg.sender] = 0;
        totalAuthorBalances -= amount;
        paymentToken.safeTransfer(msg.sender, amount);
        emit AuthorFeesWithdrawn(strategyId, msg.sender, amount);
    }

    function _setWallets(address platformWallet_, address buybackWallet_) private {
        if (platformWallet_ == address(0) || buybackWallet_ == address(0)) revert ZeroAddress();
        platformWallet = platformWallet_;
        buybackWallet = buybackWallet_;
    }
}
