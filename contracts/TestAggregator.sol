// SPDX-License-Identifier: Apache-2.0
// Test-only Chainlink AggregatorV3Interface: `decimals()` and `latestRoundData()` as a price feed
// answers them, the answer and its `updatedAt` set by the test (`set`), so staleness, non-positive
// answers and decimals can be tried against the `chainlink` rate provider on Anvil.
pragma solidity 0.8.37;

contract TestAggregator {
    uint8 public decimals;
    int256 private answer;
    uint256 private updatedAt;
    uint80 private roundId;

    constructor(uint8 decimals_) {
        decimals = decimals_;
    }

    function set(int256 answer_, uint256 updatedAt_) external {
        answer = answer_;
        updatedAt = updatedAt_;
        roundId += 1;
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (roundId, answer, updatedAt, updatedAt, roundId);
    }
}
