// SPDX-License-Identifier: UNLICENSED
// Only for bench/indexer_backfill.py: many protocol calls per transaction, each made by one of
// many accounts. Events are emitted by the protocol contracts the actors call (the contract
// whose code runs emits), so every log still comes from a deployed protocol address.
pragma solidity ^0.8.24;

/// One account of the benchmark: calls the protocol as itself (msg.sender), for its driver.
contract BenchActor {
    address private immutable driver;

    constructor() {
        driver = msg.sender;
    }

    function act(address target, bytes calldata data) external {
        require(msg.sender == driver, "BenchActor: not the driver");
        (bool ok, bytes memory reason) = target.call(data);
        if (!ok) {
            assembly {
                revert(add(reason, 32), mload(reason))
            }
        }
    }
}

/// Runs a list of calls, call i made by actor actorIds[i]; all or nothing.
contract BenchDriver {
    address private immutable owner;
    BenchActor[] public actors;

    constructor() {
        owner = msg.sender;
    }

    modifier onlyOwner() {
        require(msg.sender == owner, "BenchDriver: not the owner");
        _;
    }

    function addActors(uint256 count) external onlyOwner {
        for (uint256 i; i < count; ++i) {
            actors.push(new BenchActor());
        }
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function run(uint256[] calldata actorIds, address[] calldata targets, bytes[] calldata data)
        external
        onlyOwner
    {
        for (uint256 i; i < data.length; ++i) {
            actors[actorIds[i]].act(targets[i], data[i]);
        }
    }
}
