from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Store integrations"

    def ready(self):
        # Its sweeps are listed in settings.CELERY_BEAT_SCHEDULE.
        from integrations.services.outbox import on_order_event, store_takes_cancels
        from orders import events, hooks, panels

        events.subscribe(on_order_event)
        # Cancels that affect the buyer reach a connected store (docs/shopify.md).
        hooks.register_store_takes_cancels(store_takes_cancels)
        panels.register_panel(url_name="integrations:order_panel", title="Store sync",
                              position=50, element_id="store-sync")
