"""WooCommerce stores: REST v3 client (the `woocommerce` library), signatures, order mapping,
and the platform's connect / webhook / import / reconcile / push services (docs/woocommerce.md).
"""
