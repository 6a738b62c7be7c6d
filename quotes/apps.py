from django.apps import AppConfig


class QuotesConfig(AppConfig):
    name = "quotes"
    verbose_name = "Catalog, pricing and quotes"

    def ready(self):
        from orders import events, hooks, notices, panels
        from quotes import mapping, pricing, selectors, services, tasks

        # Price an order right after it is imported, entered or changed.
        events.subscribe(task=tasks.order_evaluate_task, types=services.EVALUATE_ON)
        # The loss guard: selling price vs base cost + shipping + handling.
        hooks.register_loss_check(pricing.loss_verdict)
        # A store edit before submission maps the changed lines in its own transaction.
        hooks.register_line_mapper(services.order_map_lines)
        # Which variants an order line may name (the orders API checks every id).
        hooks.register_usable_variants(mapping.usable_variants)
        # "N quotes wait for your answer" above every dashboard page.
        notices.register_notice("quotes.open", selectors.OPEN_QUOTES_NOTICE_SQL)
        # The price breakdown panel on the order page.
        panels.register_panel(url_name="quotes:order_price", title="What you pay", position=10,
                               element_id="price-panel")
