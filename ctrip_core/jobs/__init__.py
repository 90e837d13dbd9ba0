"""Background jobs: Dramatiq actors (scan, confirm, webhooks, sweep), the worker and the scheduler.

The broker is chosen from settings by `get_broker` (Redis; a stub broker in-process for `ctrip dev`)
and actors are declared against it by `register_actors(broker, context)`, never at import time.
Actors take ids (chain names), not objects, and are idempotent: running one twice is harmless.
"""
