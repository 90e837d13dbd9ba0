// SPDX-License-Identifier: Apache-2.0
// Test-only treasury that runs code when paid, as a Safe does (it emits an event): a native transfer
// to it needs more than 21,000 gas, as every native transfer on Arbitrum does (its gas includes the
// L1 component), so a sweep that assumed 21,000 would run out of gas.
pragma solidity 0.8.37;

contract CodeTreasury {
    uint256 public received;

    event Received(address indexed from, uint256 value);

    receive() external payable {
        received += msg.value;
        emit Received(msg.sender, msg.value);
    }
}
