from django.apps import AppConfig


class FulfillmentConfig(AppConfig):
    name = "fulfillment"

    def ready(self):
        # Fulfillment sits above orders: it hears about order events (an order
        # priced, edited, updated) and re-renders print files (STYLE.md §0).
        from django.conf import settings

        from fulfillment.printfiles import services
        from orders import events

        events.subscribe(services.on_order_event)
        # every 60 s: renders whose task was lost (the broker is a doorbell)
        settings.CELERY_BEAT_SCHEDULE.setdefault("printfiles-render-sweep", {
            "task": "fulfillment.tasks.render_sweep_task", "schedule": 60.0})
        # issue 7. every 60 s: orders whose submit countdown ended, unsent or stuck
        # submissions, stored provider webhooks whose processing failed
        settings.CELERY_BEAT_SCHEDULE.setdefault("fulfillment-submit-sweep", {
            "task": "fulfillment.tasks.submit_sweep_task", "schedule": 60.0})
        # every 15 min: shipped orders older than FULFILLMENT_COMPLETE_AFTER_DAYS -> completed
        settings.CELERY_BEAT_SCHEDULE.setdefault("fulfillment-complete-sweep", {
            "task": "fulfillment.tasks.complete_sweep_task", "schedule": 15 * 60.0})
