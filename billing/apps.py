from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self):
        # Billing sits above orders: it hears about order events, orders never
        # imports billing (docs/architecture.md).
        from billing import edits, handlers
        from orders import events, hooks, panels

        events.subscribe(handlers.on_order_event)
        # A store edit to a paid order moves its holds in the edit's transaction.
        hooks.register_edit_money(edits.EditMoney())
        panels.register_bulk_action(url_name="billing:pay_selected", label="Pay selected",
                                    testid="bulk-pay", confirm="", position=5)
        panels.register_panel(url_name="billing:order_panel", title="Payment", position=20,
                              element_id="payment-panel")
