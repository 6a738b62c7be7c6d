"""Outbound webhooks: signed deliveries of order events to the seller's own systems
(Standard Webhooks; docs/webhooks.md)."""
