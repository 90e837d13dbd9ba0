// SPDX-License-Identifier: Apache-2.0
// Test-only forwarder: pays native coin from a contract, as Safe wallets, smart accounts and
// exchanges' batched withdrawals do, so the tests see internal transfers (call traces) on Anvil.
pragma solidity 0.8.37;

contract Forwarder {
    error SendFailed(address to, uint256 amount);

    /// Forward all of msg.value to `to` (one internal call).
    function forward(address payable to) external payable {
        _send(to, msg.value);
    }

    /// Pay `amounts[i]` to `to[i]` in one transaction; the amounts must add up to msg.value.
    function forwardBatch(address payable[] calldata to, uint256[] calldata amounts) external payable {
        require(to.length == amounts.length, "length mismatch");
        uint256 total;
        for (uint256 i = 0; i < to.length; i++) {
            total += amounts[i];
            _send(to[i], amounts[i]);
        }
        require(total == msg.value, "amounts must add up to msg.value");
    }

    /// Send msg.value to `to`, then revert: called directly the whole transaction fails.
    function sendAndRevert(address payable to) external payable {
        _send(to, msg.value);
        revert("reverted after sending");
    }

    /// A successful transaction with a reverted sub-call: the sub-call's send to `to` is undone,
    /// then the value goes back to the sender.
    function forwardThenRevert(address payable to) external payable {
        try this.sendAndRevert{value: msg.value}(to) {} catch {}
        _send(payable(msg.sender), msg.value);
    }

    /// Nested forwarding: msg.value goes through `next` (another Forwarder) to `to`.
    function forwardVia(Forwarder next, address payable to) external payable {
        next.forward{value: msg.value}(to);
    }

    /// A delegatecall and a staticcall to `to` while holding msg.value: neither moves coin to it.
    function touch(address to) external payable {
        (bool ok, ) = to.delegatecall("");
        require(ok, "delegatecall failed");
        (ok, ) = to.staticcall("");
        require(ok, "staticcall failed");
    }

    function _send(address payable to, uint256 amount) private {
        (bool ok, ) = to.call{value: amount}("");
        if (!ok) revert SendFailed(to, amount);
    }
}
