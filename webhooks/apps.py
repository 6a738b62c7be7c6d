from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Outbound webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from orders import events
        from webhooks import services, tasks

        # every order event a workspace may subscribe its endpoints to (docs/webhooks.md);
        # one task per workspace for a burst, draining every event still without its
        # deliveries (a task per event was most of the cost at 100 events/s)
        events.subscribe(task=tasks.order_events_fanout_task,
                         types=services.ORDER_EVENT_TYPES, coalesce=services.FANOUT_DOORBELL)
