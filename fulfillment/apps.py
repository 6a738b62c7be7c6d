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
