"""Reports for merchants and their accountants: balances per chain and asset (GET /v1/balances)."""
