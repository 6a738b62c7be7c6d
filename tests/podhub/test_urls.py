"""The URL table's order: the stores' webhooks come first (the busiest URLs; Django tries
patterns in order), and nothing behind them is shadowed by it."""

from django.urls import get_resolver, resolve, reverse

from fulfillment.providers import registry


def test_the_stores_webhooks_are_the_first_patterns_tried():
    first = get_resolver().url_patterns[0]
    assert first.urlconf_name.__name__ == "integrations.urls"
    assert resolve("/webhooks/shopify/").view_name == "integrations:shopify_webhook"
    assert resolve("/webhooks/woocommerce/12/").view_name == "integrations:woocommerce_webhook"


def test_every_providers_and_stripes_webhook_still_reaches_its_own_view():
    for code in registry.providers():
        url = reverse("fulfillment:provider_webhook", args=[code])
        assert resolve(url).view_name == "fulfillment:provider_webhook", code
    # a provider's code is a slug a staff member chose, digits included
    assert resolve("/webhooks/providers/123/").view_name == "fulfillment:provider_webhook"
    assert resolve("/webhooks/acme/123/").view_name == "integrations:store_webhook"
    assert resolve("/webhooks/stripe/").view_name == "billing:stripe_webhook"
