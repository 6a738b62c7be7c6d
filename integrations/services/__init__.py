"""Integration services: every write to connections, inbox, outbox and import jobs.

connections  connect / disconnect / OAuth / tokens / API clients
orders       apply one store order (webhook, import, sweep) to PodHub
inbox        store a webhook delivery, process it (topics, privacy)
imports      initial import jobs and the reconciliation sweep
outbox       durable pushes to the store (fulfillments, cancels, refunds, products)
"""
