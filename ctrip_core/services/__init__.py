"""Use-cases shared by the API and the jobs, one package per feature (the API and the jobs call
these; these never call the API or the jobs):

- `accounts`: merchants and API keys;
- `payments`: create, read, list, cancel; the lifecycle rules (`payment_state.settle`); the view;
- `watching`: scanning, reorgs, confirming and settling, the chain lock, the scan lag;
- `outbox`: events written with the change they report, and their fan-out to notifiers;
- `webhooks`: endpoints, deliveries, signing, the SSRF fence, the secret box and its rotation;
- `sweeps`: moving confirmed deposits to the treasury;
- `reconcile`: the balance auditor.

Beside them: `errors` (what the API maps to 4xx), `urls` (the one URL rule) and
`idempotency_keys` (how long an Idempotency-Key lives).
"""
