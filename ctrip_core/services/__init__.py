"""Use-cases shared by the API and the jobs (payments, scanning, sweeping, events, merchants)."""
