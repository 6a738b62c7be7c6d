from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Store integrations"

    def ready(self):
        from django.conf import settings

        from integrations.services.outbox import on_order_event
        from integrations.tasks import BEAT_SCHEDULE
        from orders import events

        events.subscribe(on_order_event)
        # Until podhub/settings/base.py lists them itself (docs/shopify.md).
        schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None)
        if isinstance(schedule, dict):
            for name, entry in BEAT_SCHEDULE.items():
                schedule.setdefault(name, entry)
