from django.apps import AppConfig


class AutomationConfig(AppConfig):
    """Rules: order event -> conditions -> actions through the services people use."""

    name = "automation"
    verbose_name = "Automation rules"

    def ready(self):
        from automation import engine, selectors, tasks
        from billing import payments
        from fulfillment import routing
        from orders import events, hooks

        # One subscription per trigger: the task evaluates that trigger's rules; no task
        # for a workspace without an enabled rule of the trigger (selectors.has_rules).
        for types in engine.TRIGGER_EVENTS.values():
            events.subscribe(task=tasks.rules_for_event_task, types=types,
                             when=engine.wants_event)
        # "Skip import" acts before the order exists.
        hooks.register_import_filter(engine.import_filter, many=engine.import_filter_many)
        # "Route items to a provider": routing tries the chosen provider first.
        routing.register_preference(engine.route_preference)
        # "Set shipping method": paying, by hand or by auto-pay, uses it unless the seller
        # picks another on the Pay page.
        payments.register_shipping_choice(engine.shipping_choice)
        # A rule naming a deleted store, provider or product is disabled with the reason.
        from django.db.models.signals import post_delete, post_save

        from automation.models import Rule
        from orders.models import Store
        from quotes.models import Product, Provider
        from webhooks.models import WebhookEndpoint

        # a rule saved or deleted: the triggers a workspace has rules for are read again
        post_save.connect(selectors.rules_changed, sender=Rule, dispatch_uid="automation-rules-v")
        post_delete.connect(selectors.rules_changed, sender=Rule,
                            dispatch_uid="automation-rules-v-del")
        for model in (Store, Provider, Product, WebhookEndpoint):
            post_delete.connect(engine.reference_deleted, sender=model,
                                dispatch_uid=f"automation-rules-{model.__name__}")
