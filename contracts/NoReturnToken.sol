// SPDX-License-Identifier: Apache-2.0
// Test-only token shaped like USDT on Ethereum (TetherToken): `transfer` and `transferFrom` return
// nothing, which ABI decoders that expect ERC-20's `bool` reject. Open mint: never deploy for real.
pragma solidity 0.8.37;

contract NoReturnToken {
    string public constant name = "No-Return USD";
    string public constant symbol = "NUSD";
    uint8 public constant decimals = 6;
    uint256 public totalSupply;

    mapping(address => uint256) public balanceOf;

    event Transfer(address indexed from, address indexed to, uint256 value);

    function transfer(address to, uint256 amount) external {
        require(balanceOf[msg.sender] >= amount, "NoReturnToken: balance");
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
        emit Transfer(msg.sender, to, amount);
    }

    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }
}
