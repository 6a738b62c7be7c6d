from django.apps import AppConfig


class FulfillmentConfig(AppConfig):
    name = "fulfillment"

    def ready(self):
        # Fulfillment sits above orders: it hears about order events (an order
        # priced, edited, updated) and re-renders print files (docs/architecture.md).
        # Its sweeps are listed in settings.CELERY_BEAT_SCHEDULE.
        from fulfillment import claims, holds, tasks, views
        from fulfillment.models import DesignTemplate
        from fulfillment.printfiles import services
        from fulfillment.printfiles import views as printfile_views
        from orders import events, hooks, panels
        from quotes import checkout
        from quotes import services as quotes_services

        events.subscribe(task=tasks.render_for_event_task, types=services.RENDER_EVENTS)
        # A paid catalog order goes to production at once where the workspace asks for it.
        events.subscribe(task=tasks.launch_paid_order_task, types={"order.paid"},
                         when=checkout.workspace_launches)
        # A provider that holds orders during the countdown (ShineOn) gets them on hold
        # when the countdown starts, and every change until it ends (fulfillment/holds.py).
        events.subscribe(task=tasks.hold_for_event_task, types=holds.HOLD_EVENTS)
        # A claim's reprint is free on purpose: the loss guard never judges it.
        hooks.register_loss_exemption(claims.is_reprint)
        panels.register_panel(url_name="fulfillment:panel", title="Print files", position=30,
                              element_id="print-files")
        panels.register_bulk_action(
            url_name="fulfillment:bulk_submit", label="Submit now", testid="bulk-submit",
            confirm="Send the selected paid orders to production now? They cannot be "
            "edited afterwards.", position=10)
        panels.register_next_step(views.submit_step)
        panels.register_next_step(views.claim_step)
        panels.register_next_step(printfile_views.artwork_step)
        # A quote for a product whose artwork must come from a template needs one.
        quotes_services.register_template_check(
            lambda product_id: DesignTemplate.objects.filter(product_id=product_id,
                                                             is_active=True).exists())
        panels.register_panel(url_name="fulfillment:fulfillment_panel",
                              title="Production & shipments", position=40,
                              element_id="fulfillment")
