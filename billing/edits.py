"""A store edit to a paid order that is not submitted yet: the price is computed again and
the holds follow, in the transaction that applies the edit (docs/store-truth.md "Store
edits").

orders calls this through `orders.hooks.register_edit_money` (billing sits above
orders): `lock` takes the balance before the order row (billing's lock order, the same
as paying), `reprice` moves the money. A hold is never changed in place: the old one
is released and a new one placed for the new amount, so the ledger shows both, under
keys made of the order and the store's version (a replayed version posts nothing).

- The new price fits the available balance (counting what the old holds give back):
  the holds follow, the snapshot and the charge are the new ones, and an adjustment
  invoice documents the difference.
- It does not fit, or an item no longer maps to a priced product: every hold of the
  order is released, its charge and price snapshot are removed, and orders sends the
  order back (to "To order" with the missing amount, or to quotation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing import invoices, ledger, pricing
from billing.models import HoldPurpose, OrderCharge
from orders import services as order_services
from orders.hooks import Repricing
from orders.models import Order
from podhub.core.exceptions import PodhubError
from podhub.core.money import format_money, quantize
from quotes.models import OrderPrice, SetupFeeCharge

ZERO = Decimal("0")


def _left(hold) -> Decimal:
    return hold.remaining_amount if hold is not None and hold.is_open else ZERO


@dataclass
class _Held:
    product: Decimal
    shipping: Decimal

    @property
    def total(self) -> Decimal:
        return self.product + self.shipping


class EditMoney:
    """The object orders.hooks.register_edit_money takes."""

    @staticmethod
    def lock(workspace_id: int):
        return ledger.locked(workspace_id)

    @staticmethod
    def reprice(order: Order, *, book, priced: bool, version: str,
                now: datetime) -> Repricing | None:
        charge = (OrderCharge.objects.select_related("product_hold", "shipping_hold")
                  .filter(workspace_id=order.workspace_id, order=order).first())
        if charge is None:
            return None
        if book is None:  # orders locks the balance first for a paid order
            raise RuntimeError("reprice needs the balance locked before the order")
        key = f"order:{order.pk}:edit:{version}"
        cur = book.currency

        def m(amount: Decimal) -> str:
            return format_money(amount, cur)

        held = _Held(quantize(_left(charge.product_hold), cur),
                     quantize(_left(charge.shipping_hold), cur))
        if not priced:
            _unfund(book, order, charge, key=key)
            return Repricing(
                funded=False, currency=cur,
                message=f"The holds of {m(held.total)} went back to your balance.",
                data={"released": str(held.total), "currency": cur})
        _forget_price(order)
        try:
            price = pricing.freeze(order.workspace, order.pk, charge.shipping_method)
        except PodhubError as exc:  # not priced, or no longer shipped there
            _unfund(book, order, charge, key=key)
            why = exc.message
            return Repricing(
                funded=False, currency=cur,
                message=f"It cannot be paid as it is now ({why}). The holds of "
                f"{m(held.total)} went back to your balance; pay it again once it can be.",
                data={"released": str(held.total), "currency": cur, "problem": why})
        shipping = held.shipping if charge.group_id else price.shipping_amount
        new = _Held(quantize(price.product_amount, cur), quantize(shipping, cur))
        missing = quantize(new.total - (book.available + held.total), cur)
        if missing > 0:
            _unfund(book, order, charge, key=key)
            return Repricing(
                funded=False, missing_amount=missing, currency=cur,
                message=f"The store's change makes the order cost {m(new.total)} instead "
                f"of {m(held.total)}; your available balance is {m(missing)} short. "
                f"The holds of {m(held.total)} went back to your balance and the order "
                "waits for payment again.",
                data={"from": str(held.total), "to": str(new.total), "currency": cur,
                      "missing": str(missing), "released": str(held.total)})
        holds = {}
        for purpose, hold, before, after in (
                ("product", charge.product_hold, held.product, new.product),
                ("shipping", charge.shipping_hold, held.shipping, new.shipping)):
            if hold is not None and before == after:
                holds[purpose] = hold
                continue
            if hold is not None and before > 0:
                book.release(hold.pk, key=f"{key}:release:{purpose}",
                             memo=f"Order {order.number} changed in the store: {purpose} "
                             "hold replaced")
            holds[purpose] = book.hold(
                after, key=f"{key}:hold:{purpose}", purpose=HoldPurpose(purpose),
                order_id=order.pk, payment=charge.payment,
                memo=f"Order {order.number} changed in the store: {purpose}")
        book.flush()  # the new holds get their ids
        charge.product_hold, charge.shipping_hold = holds["product"], holds["shipping"]
        charge.product_amount, charge.shipping_amount = new.product, new.shipping
        charge.item_count = price.items
        charge.handling_amount = price.handling_amount
        charge.shipping_first_amount = price.first_item
        charge.shipping_additional_amount = price.additional_item
        charge.lines = [{**ln, "unit_amount": str(ln["unit_amount"]),
                         "amount": str(ln["amount"])} for ln in price.lines]
        charge.updated_at = now
        charge.save()
        diff = new.total - held.total
        invoices.issue_for_adjustment(book, order=order, charge=charge, before=held.total,
                                      after=new.total)
        moved = (f"{m(diff)} more held" if diff > 0 else
                 f"{m(-diff)} released to your balance" if diff < 0 else "no money moved")
        return Repricing(
            funded=True, currency=cur,
            message=f"Priced again after the store's change: {m(held.total)} → "
            f"{m(new.total)} ({moved}).",
            data={"from": str(held.total), "to": str(new.total), "currency": cur,
                  "difference": str(diff)})


def _forget_price(order: Order) -> None:
    """The frozen price and setup fees of this order go: the next snapshot is the new one."""
    OrderPrice.objects.filter(workspace_id=order.workspace_id, order=order).delete()
    SetupFeeCharge.objects.filter(workspace_id=order.workspace_id, order=order).delete()


def _unfund(book, order: Order, charge: OrderCharge, *, key: str) -> None:
    """Release every hold of the order; it is no longer paid here."""
    held = _left(charge.product_hold) + _left(charge.shipping_hold)
    for purpose, hold in (("product", charge.product_hold), ("shipping", charge.shipping_hold)):
        if _left(hold) > 0:
            book.release(hold.pk, key=f"{key}:release:{purpose}",
                         memo=f"Order {order.number} changed in the store: {purpose} hold "
                         "released")
    book.flush()
    invoices.issue_for_adjustment(book, order=order, charge=charge, before=held, after=ZERO)
    _forget_price(order)
    order_services.lines_forget_price(order_id=order.pk)
    charge.delete()
