"""A protocol-faithful WooCommerce store (REST API v3 subset + signed webhooks).

A separate "remote" service with its own in-memory state and threaded HTTP server,
following the WooCommerce REST API docs (INTEGRATIONS.md §2): OAuth 1.0a over plain
HTTP (what the `woocommerce` python client sends there), HTTP Basic or query-string
keys otherwise; orders with X-WP-Total / X-WP-TotalPages / Link pagination; order
notes; webhooks CRUD with the unsigned `webhook_id=` ping; deliveries signed with
X-WC-Webhook-Signature, built at delivery time, never retried, disabled after 5
consecutive failures. Duplicates, drops and held (out-of-order) deliveries on demand.
Nothing in it imports PodHub's Django code except the shared signature helper.
"""
