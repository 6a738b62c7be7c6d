from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self):
        # Billing sits above orders: it hears about order events, orders never
        # imports billing (docs/architecture.md).
        from billing import edits, handlers, tasks, views
        from orders import events, hooks, panels

        # one task per workspace for a burst (the submit sweep moves orders by the
        # hundred): it syncs every charge of the workspace that needs it
        events.subscribe(task=tasks.order_charges_sync_task, types=handlers.SYNC_EVENTS,
                         coalesce=handlers.CHARGES_DOORBELL)
        events.subscribe(task=tasks.shipment_capture_task, types={"shipment.shipped"})
        events.subscribe(task=tasks.auto_pay_task, types=handlers.AUTO_PAY_EVENTS)
        # A store edit to a paid order moves its holds in the edit's transaction.
        hooks.register_edit_money(edits.EditMoney())
        panels.register_bulk_action(url_name="billing:pay_selected", label="Pay selected",
                                    testid="bulk-pay", confirm="", position=5)
        panels.register_next_step(views.pay_step)
        panels.register_panel(url_name="billing:order_panel", title="Payment", position=20,
                              element_id="payment-panel")
