from django.urls import path, register_converter

from integrations import views, webhooks


class PlatformConverter:
    """A platform's slug, never "providers": these routes are tried before every other
    app's (podhub/urls.py), and /webhooks/providers/<code>/ is fulfillment's, whatever
    the provider's code (a slug, so possibly all digits)."""

    regex = "(?!providers/)[-a-zA-Z0-9_]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(PlatformConverter, "platform")

app_name = "integrations"
urlpatterns = [
    path("webhooks/shopify/", webhooks.shopify_webhook, name="shopify_webhook"),
    path("webhooks/etsy/", webhooks.etsy_webhook, name="etsy_webhook"),
    path("webhooks/woocommerce/<id:store_id>/", webhooks.store_webhook,
         {"platform": "woocommerce"}, name="woocommerce_webhook"),
    # a platform that finds its store by our store id needs no view of its own
    path("webhooks/<platform:platform>/<id:store_id>/", webhooks.store_webhook,
         name="store_webhook"),
    path("stores/", views.store_list, name="stores"),
    path("stores/connect/<slug:platform>/", views.connect_store, name="connect"),
    path("stores/connect/<slug:platform>/callback/", views.connect_callback,
         name="connect_callback"),
    # the documented addresses of the two built-in platforms' forms (PRODUCT.md)
    path("stores/woocommerce/connect/", views.connect_store, {"platform": "woocommerce"},
         name="connect_woocommerce"),
    path("stores/shopify/connect/", views.connect_store, {"platform": "shopify"},
         name="connect_shopify"),
    path("stores/sandbox/<slug:platform>/", views.connect_sandbox, name="connect_sandbox"),
    path("stores/shopify/install/", views.install_shopify, name="install_shopify"),
    path("stores/shopify/callback/", views.oauth_callback, name="oauth_callback"),
    path("stores/manual/", views.create_manual, name="create_manual"),
    path("stores/<id:store_id>/", views.health, name="health"),
    path("stores/<id:store_id>/import/", views.import_progress, name="import_progress"),
    path("stores/<id:store_id>/disconnect/", views.disconnect, name="disconnect"),
    path("stores/<id:store_id>/reconcile/", views.reconcile_now, name="reconcile"),
    path("stores/<id:store_id>/publish/", views.publish, name="publish"),
    path("stores/<id:store_id>/sandbox/order/", views.sandbox_order, name="sandbox_order"),
    path("stores/<id:store_id>/deliveries/replay/", views.replay_deliveries,
         name="replay_deliveries"),
    path("stores/<id:store_id>/pushes/retry/", views.retry_pushes, name="retry_pushes"),
    path("stores/orders/<id:order_id>/sync/", views.order_panel, name="order_panel"),
]
