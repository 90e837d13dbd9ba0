"""Payouts: money a merchant sends out of its payout wallet (POST /v1/payouts), sealed by the API,
approved by the operator above `payouts.approval_above`, signed and tracked by the sweeper."""
