from django.apps import AppConfig


class QuotesConfig(AppConfig):
    name = "quotes"
    verbose_name = "Catalog, pricing and quotes"

    def ready(self):
        from django.conf import settings

        from orders import events, hooks
        from quotes import pricing, services

        # Price an order right after it is imported, entered or changed (STYLE.md §0).
        events.subscribe(services.on_order_event)
        # The loss guard: selling price vs base cost + shipping + handling.
        hooks.register_loss_check(pricing.loss_verdict)
        # every 5 min: orders whose follow-up pricing was lost (killed worker, ...)
        settings.CELERY_BEAT_SCHEDULE.setdefault("quotes-pricing-sweep", {
            "task": "quotes.tasks.pricing_sweep_task", "schedule": 5 * 60.0,
        })
