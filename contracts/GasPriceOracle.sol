// SPDX-License-Identifier: Apache-2.0
// Test-only stand-in for the OP-stack GasPriceOracle predeploy (0x420000000000000000000000000000000000000F):
// its `getL1Fee(bytes)` prices a serialized transaction's L1 data fee. Here the price is simply
// `feePerByte` (storage slot 0, set by the test with anvil_setStorageAt) per byte, so a test knows
// exactly what the oracle answers. Its runtime code is placed at the predeploy's address with anvil_setCode.
pragma solidity 0.8.37;

contract GasPriceOracle {
    uint256 public feePerByte;

    function getL1Fee(bytes calldata data) external view returns (uint256) {
        return data.length * feePerByte;
    }
}
