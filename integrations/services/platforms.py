"""Platform dispatch: platform -> the module that speaks to that kind of store.

Shopify is the built-in path of each service (inbox, imports, outbox) and is not
listed; every other platform registers a module exposing

    handle_delivery(conn, row, payload, *, now) -> str          (inbox)
    import_job_run(*, job_id, client=None, max_pages=None)      (imports)
    reconcile_store(*, connection_id, client=None, now=None, max_pages=40) -> dict
    deliver(conn, msg) -> (status, error, result, retry_after)  (outbox)
"""

from importlib import import_module

ADAPTERS = {
    "woocommerce": "integrations.woocommerce.services",
}


def adapter(platform: str):
    """The platform's module, or None for Shopify (the services' own code)."""
    path = ADAPTERS.get(platform)
    return import_module(path) if path else None
