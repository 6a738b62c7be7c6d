from django.apps import AppConfig


class AutomationConfig(AppConfig):
    """Rules: order event -> conditions -> actions through the services people use."""

    name = "automation"
    verbose_name = "Automation rules"

    def ready(self):
        from automation import engine, tasks
        from billing import payments
        from fulfillment import routing
        from orders import events, hooks

        # One subscription per trigger: the task evaluates that trigger's rules.
        for types in engine.TRIGGER_EVENTS.values():
            events.subscribe(task=tasks.rules_for_event_task, types=types)
        # "Skip import" acts before the order exists.
        hooks.register_import_filter(engine.import_filter)
        # "Route items to a provider": routing tries the chosen provider first.
        routing.register_preference(engine.route_preference)
        # "Set shipping method": paying, by hand or by auto-pay, uses it unless the seller
        # picks another on the Pay page.
        payments.register_shipping_choice(engine.shipping_choice)
        # A rule naming a deleted store, provider or product is disabled with the reason.
        from django.db.models.signals import post_delete

        from orders.models import Store
        from quotes.models import Product, Provider
        from webhooks.models import WebhookEndpoint

        for model in (Store, Provider, Product, WebhookEndpoint):
            post_delete.connect(engine.reference_deleted, sender=model,
                                dispatch_uid=f"automation-rules-{model.__name__}")
