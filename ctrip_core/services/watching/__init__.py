"""Watching the chains: scanning blocks for transfers to deposit addresses, undoing what a reorg
replaced, counting confirmations and settling payments, expiring them by the scanner's clock,
reading a payment's transfers, the per-chain lock and the scan lag."""
