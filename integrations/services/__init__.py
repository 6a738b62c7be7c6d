"""Integration services: every write to connections, inbox, outbox and import jobs.

The same for every store platform: what a platform does differently is asked of its
registry entry (integrations/platforms/, `registry.platform_for(connection)`).

connections  the connection row, manual stores, disconnect, uninstall
orders       apply one store order (webhook, import, sweep) to PodHub
inbox        store a webhook delivery, process it (the platform maps it; privacy)
imports      the one import-job loop and the one reconciliation sweep
outbox       durable pushes to the store, one dispatch (fulfillments, cancels, notes,
             refunds, products where the platform takes them)
"""
