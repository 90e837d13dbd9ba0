// SPDX-License-Identifier: Apache-2.0
// Never deployed. Its creation code, with the constructor arguments appended, is run by an
// eth_call that has no `to` (a "deployless" call): the constructor reads every owner's native
// balance and each token's balanceOf of it, and returns them as the call's answer.
//
// What a constructor returns becomes contract code, so it may not exceed EIP-170's 24,576 bytes
// (nodes refuse the call beyond it). The answer is therefore sparse and bounded: raw 32-byte words
// [done, position, balance, position, balance, ...] with one (position, balance) pair per nonzero
// balance, position = owner index × (1 + tokens) + (0 for native, 1 + token index), and `done` the
// number of owners read: when the pairs would overflow the limit the reader stops early and the
// caller asks again from owner `done`. A token whose balanceOf fails or answers anything but one
// word reverts the call. Used by the balance auditor (ctrip_core/chains/balances.py).
pragma solidity 0.8.37;

contract BalanceReader {
    uint256 private constant MAX_PAIRS = 383; // (1 + 2 × 383) words = 24,544 bytes ≤ 24,576

    constructor(address[] memory owners, address[] memory tokens) {
        uint256 width = tokens.length + 1;
        uint256[] memory out = new uint256[](1 + 2 * MAX_PAIRS);
        bytes memory query = abi.encodeWithSelector(0x70a08231, address(0)); // balanceOf(owner), reused
        uint256 pairs = 0;
        uint256 done = 0;
        for (; done < owners.length; done++) {
            if (pairs + width > MAX_PAIRS) break; // this owner's balances might not fit: stop before it
            address owner = owners[done];
            uint256 native = owner.balance;
            if (native != 0) {
                out[1 + 2 * pairs] = done * width;
                out[2 + 2 * pairs] = native;
                pairs++;
            }
            assembly { mstore(add(query, 36), owner) }
            for (uint256 j = 0; j < tokens.length; j++) {
                address token = tokens[j];
                uint256 value;
                bool ok;
                assembly {
                    ok := staticcall(gas(), token, add(query, 32), 36, 0, 32)
                    ok := and(ok, eq(returndatasize(), 32))
                    value := mload(0)
                }
                require(ok, "BalanceReader: balanceOf failed");
                if (value != 0) {
                    out[1 + 2 * pairs] = done * width + 1 + j;
                    out[2 + 2 * pairs] = value;
                    pairs++;
                }
            }
        }
        out[0] = done;
        assembly { return(add(out, 32), mul(32, add(1, mul(2, pairs)))) }
    }
}
