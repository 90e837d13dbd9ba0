"""The balance auditor: deposit addresses' on-chain balances against the ledger (audit), what
the ledger expects (ledger) and what the chain can explain (explain)."""
