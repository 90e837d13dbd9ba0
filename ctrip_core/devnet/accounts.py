"""Well-known accounts of Anvil's default mnemonic, for `ctrip dev` and the tests.

Never sweep deposits derived from this mnemonic on a real chain: everyone knows its keys.
"""

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
#: Account xpub (m/44'/60'/0') of ANVIL_MNEMONIC.
ANVIL_XPUB = ("xpub6Ce9NcJvTk36xtLSrJLZqE7wtgA5deCeYs7rSQtreh4cj6ByPtrg9sD7V2FNFLPnf8heNP3FGkeV9qwfzvZ"
              "NSd54JoNXVsXFYSYwHsnJxqP")
#: Account 0 (m/44'/60'/0'/0/0): deploys the test token and pays test payments.
FUNDER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
FUNDER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
#: Account 9: the treasury of `ctrip dev`'s chain and of the tests' and benches' chains files.
TREASURY = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"
#: The test token's address when FUNDER deploys it first on a fresh chain (nonce 0).
FIRST_DEPLOY_ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

#: The gateway wallet of tests and `ctrip dev` (the BIP-39 test vector): unlike ANVIL_MNEMONIC, its
#: addresses hold nothing on a fresh Anvil, so a deposit balance is exactly what was paid.
GATEWAY_MNEMONIC = ("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
                    "abandon about")
GATEWAY_XPUB = ("xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6"
                "si3yZdUsT8ddYM3PwnATt")
