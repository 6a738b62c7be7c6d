"""How an order's input (orders/inputs.py) becomes its rows: the Order fields taken from
an OrderInput, a LineItem from a LineInput, and the text the dashboard searches."""

from orders import inputs
from orders.models import LineItem, Order

UNMAPPED_REASON = "Not connected: no priced catalog product for this item yet."


def search_text_for(*, number: str, buyer_name: str, buyer_email: str, skus) -> str:
    """What the dashboard's search matches: "number buyer_name buyer_email sku1 sku2"."""
    parts = [number, buyer_name, buyer_email, *skus]
    return " ".join(p.strip() for p in parts if p and p.strip()).lower()


def _refresh_search_text(order: Order) -> None:
    skus = LineItem.objects.filter(order=order).order_by("id").values_list("sku", flat=True)
    order.search_text = search_text_for(number=order.number, buyer_name=order.buyer_name,
                                        buyer_email=order.buyer_email, skus=skus)


def _line_item(order: Order, line: inputs.LineInput) -> LineItem:
    """The line PodHub makes: what the store still wants minus what it already
    fulfilled (a store line), or the whole quantity (manual, CSV, API)."""
    return LineItem(
        workspace_id=order.workspace_id, order=order, external_id=line.external_id,
        store_product_id=line.store_product_id, store_variant_id=line.store_variant_id,
        sku=line.sku, title=line.title, variant_title=line.variant_title,
        quantity=line.to_make, store_quantity=line.quantity,
        unit_price_amount=line.unit_price, discount_amount=line.discount,
        personalization=line.personalization, images=line.images,
        catalog_variant_id=line.catalog_variant_id,
        unmapped_reason="" if line.catalog_variant_id else UNMAPPED_REASON,
    )


_ORDER_VALUES = {
    # Order field -> OrderInput attribute
    "number": "number", "channel": "channel", "buyer_name": "buyer_name",
    "buyer_email": "buyer_email", "shipping_address": "shipping_address",
    "currency": "currency", "subtotal_amount": "subtotal", "discount_amount": "discount",
    "shipping_amount": "shipping", "tax_amount": "tax", "total_amount": "total",
    "shipping_discount_amount": "shipping_discount", "shop_money": "shop_money",
}
