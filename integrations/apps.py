from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Store integrations"

    def ready(self):
        # Its sweeps are listed in settings.CELERY_BEAT_SCHEDULE.
        from integrations import tasks
        from integrations.platforms import registry
        from integrations.services import outbox
        from orders import events, hooks, panels

        # settings.PODHUB_STORE_PLATFORMS is read now: a wrong line stops the start with
        # the reason, not the first import or push of a store.
        registry.platforms()

        events.subscribe(task=tasks.order_event_task, types=set(outbox.PUSHED_EVENTS)
                         - set(outbox.NOTED_EVENTS))
        events.subscribe(task=tasks.order_events_push_task, types=outbox.NOTED_EVENTS,
                         coalesce=outbox.EVENTS_DOORBELL)
        # Cancels that affect the buyer reach a connected store (docs/shopify.md).
        hooks.register_store_takes_cancels(outbox.store_takes_cancels)
        # the kinds of store: one per registered platform (Store.platform's choices)
        hooks.register_platform_labels(
            lambda: {code: p.label for code, p in registry.platforms().items()})
        panels.register_panel(url_name="integrations:order_panel", title="Store sync",
                              position=50, element_id="store-sync")
