"""The outbox: events written in the same transaction as the change they report (events), and
their fan-out to the notifiers (dispatch)."""
