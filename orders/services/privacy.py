"""The buyer's personal data erased on request (a store's GDPR webhook)."""

from django.db import transaction
from django.utils import timezone

from orders.events import Actor
from orders.models import LineItem, Order, OrderState
from orders.services.rows import _refresh_search_text
from orders.services.timeline import lock_order, record_event

S = OrderState

# Personalisation is kept while the order may still be made; erased once it is finished.
_FINISHED = (S.SHIPPED, S.COMPLETED, S.CANCELLED)


@transaction.atomic
def order_redact_buyer(*, order_id: int, actor: Actor, reason: str = "") -> Order:
    """Erase the buyer's personal data: name, e-mail, shipping address, and the items'
    personalisation and images once the order is finished (shipped, completed or
    cancelled; until then production needs them). Records order.buyer_data_redacted
    when anything was erased; a repeat changes nothing.
    """
    order = lock_order(order_id)
    effective = order.return_state if order.state == S.ON_HOLD else order.state
    erased: list[str] = [name for name in ("buyer_name", "buyer_email", "shipping_address")
                         if getattr(order, name)]
    order.buyer_name, order.buyer_email, order.shipping_address = "", "", {}
    if effective in _FINISHED or order.state in _FINISHED:
        lines = LineItem.objects.filter(order=order)
        if any(p or i for p, i in lines.values_list("personalization", "images")):
            lines.update(personalization=[], images=[], updated_at=timezone.now())
            erased.append("personalization")
    if not erased:
        return order
    _refresh_search_text(order)
    order.save(update_fields=["buyer_name", "buyer_email", "shipping_address", "search_text",
                              "updated_at"])
    record_event(order=order, type="order.buyer_data_redacted", actor=actor,
                 message=reason or "The buyer's personal data was erased.",
                 data={"fields": erased})
    return order
