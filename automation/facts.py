"""The order as rule conditions see it (automation.conditions.Facts), read once per event:
from an order (its lines, tags and notes: three small queries), or from an import's
input before the order exists ("skip import")."""

from decimal import Decimal

from automation.conditions import Facts, Line
from automation.models import OrderTag
from orders.events import OrderEvents
from orders.models import LineItem, Order, OrderEvent


def product_ids(variant_ids) -> dict[int, int]:
    """catalog variant id -> its catalog product id."""
    from quotes.models import Variant

    ids = {v for v in variant_ids if v}
    if not ids:
        return {}
    return dict(Variant.objects.filter(pk__in=ids).values_list("pk", "product_id"))


def _margin(order: Order):
    def margin() -> Decimal | None:
        from quotes.pricing import price_order

        bd = price_order(order=order)
        return bd.profit if bd.items_priced else None

    return margin


def for_order(order: Order) -> Facts:
    lines = list(LineItem.objects.filter(order=order).order_by("pk")
                 .values_list("sku", "quantity", "catalog_variant_id", "personalization"))
    products = product_ids(v for _, _, v, _ in lines)
    address = order.shipping_address or {}
    return Facts(
        store_id=order.store_id,
        country=str(address.get("country_code") or ""),
        region=str(address.get("province_code") or address.get("province") or ""),
        currency=order.currency, total=order.total_amount, buyer_email=order.buyer_email or "",
        address=address,
        lines=[Line(sku=sku or "", quantity=qty, product_id=products.get(variant),
                    personalised=bool(pers)) for sku, qty, variant, pers in lines],
        tags=set(OrderTag.objects.filter(order=order).values_list("name", flat=True)),
        notes=[*OrderEvent.objects.filter(order=order, type=OrderEvents.NOTE_ADDED)
               .values_list("message", flat=True),
               *(n for n in (order.hold_message, order.cancel_note) if n)],
        margin=_margin(order),
    )


def for_input(store, inp) -> Facts:
    """An order the store sends that PodHub does not have yet (orders.inputs.OrderInput)."""
    address = inp.shipping_address or {}
    products = product_ids(ln.catalog_variant_id for ln in inp.lines)
    return Facts(
        store_id=store.pk,
        country=str(address.get("country_code") or ""),
        region=str(address.get("province_code") or address.get("province") or ""),
        currency=inp.currency, total=inp.total, buyer_email=inp.buyer_email or "",
        address=address,
        lines=[Line(sku=ln.sku or "", quantity=ln.to_make,
                    product_id=products.get(ln.catalog_variant_id),
                    personalised=bool(ln.personalization)) for ln in inp.lines],
    )
