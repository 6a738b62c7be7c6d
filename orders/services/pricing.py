"""Priced: in_quotation -> to_order, and the loss guard (docs/pricing.md) that holds or
cancels an order sold below cost, per the store's loss policy."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from orders import hooks
from orders.events import Actor
from orders.models import CancelReason, HoldReason, LossPolicy, Order, OrderState
from orders.services.emails import _email_cancelled
from orders.services.moves import IllegalTransition, _cancel, _hold, _move, _stamp
from orders.services.timeline import lock_order, record_event
from podhub.core.money import format_money

S = OrderState


@transaction.atomic
def order_mark_priced(*, order_id: int, actor: Actor, now: datetime | None = None) -> Order:
    """Every line is priced: in_quotation -> to_order, then the loss guard runs.

    An order held while in quotation stays held; the hold now returns to
    to_order (and the loss guard runs when it is released).
    """
    now = now or timezone.now()
    order = lock_order(order_id)
    if order.state == S.ON_HOLD and order.return_state == S.IN_QUOTATION:
        order.return_state = S.TO_ORDER
        _stamp(order, S.TO_ORDER, now)
        order.save()
        record_event(order=order, type="order.priced", actor=actor,
                     message="Every item is priced; the order stays on hold.",
                     data={"while_held": True})
        return order
    if order.state != S.TO_ORDER:
        if order.state != S.IN_QUOTATION:
            raise IllegalTransition(order=order, requested=S.TO_ORDER)
        _move(order, S.TO_ORDER, actor=actor, type="order.priced", now=now,
              message="Every item is priced.")
    _run_loss_guard(order, now=now)
    return order


def _run_loss_guard(order: Order, *, now: datetime) -> None:
    verdict = hooks.loss_check(order)
    if verdict is not None and verdict.is_loss:
        _apply_loss_policy(order, verdict, now=now)


def _apply_loss_policy(order: Order, verdict: hooks.LossVerdict, *, now: datetime) -> None:
    text = (
        f"Selling price {format_money(verdict.selling_amount, verdict.currency)} is below "
        f"base cost + shipping + handling ({format_money(verdict.cost_amount, verdict.currency)}"
        f"). {verdict.detail}"
    ).strip()
    actor = Actor.system("Loss guard")
    data = {"selling": str(verdict.selling_amount), "cost": str(verdict.cost_amount),
            "currency": verdict.currency}
    if order.store.loss_policy == LossPolicy.CANCEL:
        _cancel(order, reason=CancelReason.LOSS_GUARD, actor=actor, note=text, now=now,
                data=data)
        _email_cancelled(order, subject=f"Order {order.number} was cancelled: below cost",
                         body=text + "\n\nThe order was cancelled per your store's loss "
                         "policy.")
    else:
        _hold(order, reason=HoldReason.LOSS_GUARD, message=text, actor=actor, now=now,
              data=data)
