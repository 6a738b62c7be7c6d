from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Outbound webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from orders import events
        from webhooks import services, tasks

        # every order event a workspace may subscribe its endpoints to (docs/webhooks.md)
        events.subscribe(task=tasks.order_event_fanout_task, types=services.ORDER_EVENT_TYPES)
