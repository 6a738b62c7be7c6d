"""The WooCommerce sandbox fixtures of test_woocommerce.py, for the store-truth tests."""

from tests.integrations.test_woocommerce import (  # noqa: F401 - fixtures
    webhook_client,
    woo_conn,
    woo_store,
)
