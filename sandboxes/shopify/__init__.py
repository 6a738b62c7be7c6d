"""A protocol-faithful Shopify store for development, tests, demos and benchmarks.

A separate "remote" service: its own state (SQLite, in memory or a file), its
own HTTP server. It speaks the Admin GraphQL subset PodHub uses, with query
cost and the leaky-bucket throttle, the OAuth endpoints, and sends
HMAC-signed webhooks with retries (duplicates, drops and out-of-order
deliveries on demand). Nothing in it imports PodHub's Django code.
"""
