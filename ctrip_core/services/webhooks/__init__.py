"""Webhooks: merchants' endpoints, which endpoint gets which event (subscriptions), the fan-out of
events into deliveries (notifier) and redelivery by hand (redelivery), signed
delivery with retries (deliveries, delivery_sender), Standard Webhooks signing, the SSRF fence
and its transport, and the secret box that keeps signing secrets encrypted at rest."""
