"""Payments: creating, reading, listing and cancelling them (operations), the lifecycle rules
(payment_state.settle, the one place they live), the public view of a payment (payment_view) and
the payload of its events (payment_events)."""
