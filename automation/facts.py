"""The order as rule conditions see it (automation.conditions.Facts), read once per event:
from an event (automation.selectors: the order and its lines in one query), from an order
(dry run, apply to existing), or from an import's input before the order exists ("skip
import"). Tags, notes, catalog products and the margin are read only if a rule asks."""

from decimal import Decimal

from automation.conditions import Facts, Line
from orders.models import LineItem, Order


def product_ids(variant_ids) -> dict[int, int]:
    """catalog variant id -> its catalog product id."""
    from quotes.models import Variant

    ids = {v for v in variant_ids if v}
    if not ids:
        return {}
    return dict(Variant.objects.filter(pk__in=ids).values_list("pk", "product_id"))


def _margin(order_id: int, workspace_id: int):
    def margin() -> Decimal | None:
        from quotes.pricing import price_order

        order = Order.objects.select_related("workspace").get(pk=order_id,
                                                              workspace_id=workspace_id)
        bd = price_order(order=order)
        return bd.profit if bd.items_priced else None

    return margin


def _extra(order_id: int, workspace_id: int, *extra_notes: str, tags=None, notes=None):
    """Loaders of tags and notes sharing one query (automation.selectors), unless the
    caller read them already (`tags`, `notes`)."""
    seen: dict = {}
    if tags is not None and notes is not None:
        seen.update(tags=tags, notes=[*notes, *(n for n in extra_notes if n)])

    def read():
        if not seen:
            from automation.selectors import tags_and_notes

            tags, notes = tags_and_notes(workspace_id, order_id)
            seen.update(tags=tags, notes=[*notes, *(n for n in extra_notes if n)])
        return seen

    return (lambda: read()["tags"]), (lambda: read()["notes"])


def build(*, order_id: int, workspace_id: int, store_id: int, address: dict, currency: str,
          total, buyer_email: str, hold_message: str, cancel_note: str,
          lines: list[tuple], tags: set | None = None, notes: list | None = None) -> Facts:
    """lines: (sku, quantity, catalog variant id, personalization) per line; `tags` and
    `notes` when the caller read them already."""
    address = address or {}
    load_tags, load_notes = _extra(order_id, workspace_id, hold_message, cancel_note,
                                   tags=tags, notes=notes)
    return Facts(
        store_id=store_id,
        country=str(address.get("country_code") or ""),
        region=str(address.get("province_code") or address.get("province") or ""),
        currency=currency, total=Decimal(str(total)), buyer_email=buyer_email or "",
        address=address,
        lines=[Line(sku=sku or "", quantity=qty, variant_id=variant, personalised=bool(pers))
               for sku, qty, variant, pers in lines],
        load_tags=load_tags, load_notes=load_notes, load_products=product_ids,
        margin=_margin(order_id, workspace_id),
    )


def for_order(order: Order) -> Facts:
    lines = list(LineItem.objects.filter(order=order).order_by("pk")
                 .values_list("sku", "quantity", "catalog_variant_id", "personalization"))
    return build(order_id=order.pk, workspace_id=order.workspace_id, store_id=order.store_id,
                 address=order.shipping_address, currency=order.currency,
                 total=order.total_amount, buyer_email=order.buyer_email,
                 hold_message=order.hold_message, cancel_note=order.cancel_note, lines=lines)


def for_input(store, inp) -> Facts:
    """An order the store sends that PodHub does not have yet (orders.inputs.OrderInput)."""
    address = inp.shipping_address or {}
    return Facts(
        store_id=store.pk,
        country=str(address.get("country_code") or ""),
        region=str(address.get("province_code") or address.get("province") or ""),
        currency=inp.currency, total=inp.total, buyer_email=inp.buyer_email or "",
        address=address,
        lines=[Line(sku=ln.sku or "", quantity=ln.to_make, variant_id=ln.catalog_variant_id,
                    personalised=bool(ln.personalization)) for ln in inp.lines],
        load_products=product_ids,
    )
