"""Local development chain: a real Anvil node and the test ERC-20, for `ctrip dev` and the tests."""
