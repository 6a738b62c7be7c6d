"""Paying orders from the balance, capturing and releasing as they move, group shipping.

Paying = confirming (docs/orders.md): the seller confirms one or many `to_order`
orders; their prices are frozen by the quotes price service, product cost and
shipping are held on the balance, and each order moves to
`awaiting_submission`. A bulk payment is all-or-nothing: one transaction holds
every order of the selection or none, so a seller never ends up with half a
batch paid; when the total does not fit in the available balance nothing is
held and the error says exactly how much is missing. A store order the buyer
has not paid the store for yet (`Order.store_paid` False) cannot be paid: the
whole selection is refused naming it (StoreUnpaid, 409 `store_unpaid`), and
auto-pay waits for the store's "paid" (the order.store_paid event).

Lock order: the account row first, then orders by pk (saleor lock_objects).
"""

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing import invoices, ledger, pricing
from billing.ledger import InsufficientFunds
from billing.models import (
    EntryKind,
    HoldPurpose,
    OrderCharge,
    Payment,
    ShipmentGroup,
    StoreShippingDefault,
)
from orders import services as order_services
from orders.events import Actor
from orders.models import Order, OrderEvent, OrderState, Store
from orders.services import StoreUnpaid
from podhub.core.exceptions import Conflict, NotFound, ValidationFailed
from podhub.core.money import format_money, quantize

log = logging.getLogger(__name__)
S = OrderState
ZERO = Decimal("0")
MAX_BULK = 200


# --- what a selection costs -----------------------------------------------------------


@dataclass
class Selection:
    orders: list[Order]
    prices: dict[int, pricing.OrderPrice]
    currency: str
    available: Decimal
    problems: dict[int, str] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum((p.total for p in self.prices.values()), ZERO)

    @property
    def missing(self) -> Decimal:
        return quantize(max(self.total - self.available, ZERO), self.currency)

    @property
    def payable(self) -> bool:
        return bool(self.orders) and not self.problems and self.missing == 0


def default_methods(*, workspace, store_ids) -> dict[int, str]:
    return dict(StoreShippingDefault.objects.filter(
        workspace=workspace, store_id__in=set(store_ids)).values_list("store_id",
                                                                      "shipping_method"))


# Shipping methods chosen for orders ahead of paying (automation's "set shipping method"
# rule action): fn(workspace, order_ids) -> {order id: method code}.
_choosers: list = []


def register_shipping_choice(fn) -> None:
    if fn not in _choosers:
        _choosers.append(fn)


def _methods(workspace, orders, picked: dict[int, str]) -> dict[int, tuple[str | None, bool]]:
    """Each order's shipping method and whether the seller picked it here: the seller's
    pick, else the one a rule chose, else the store's default (None: the cheapest)."""
    chosen: dict[int, str] = {}
    for fn in _choosers:
        chosen |= fn(workspace, [o.pk for o in orders if not picked.get(o.pk)])
    defaults = default_methods(workspace=workspace, store_ids=[o.store_id for o in orders])
    return {o.pk: (picked[o.pk], True) if picked.get(o.pk)
            else (chosen.get(o.pk) or defaults.get(o.store_id), False) for o in orders}


def selection_price(*, workspace, order_ids: list[int],
                    shipping_methods: dict[int, str] | None = None) -> Selection:
    """Price a selection for review (reads only)."""
    order_ids = list(dict.fromkeys(int(i) for i in order_ids))[:MAX_BULK]
    orders = list(Order.objects.filter(workspace=workspace, pk__in=order_ids)
                  .select_related("store", "workspace").order_by("placed_at", "pk"))
    if len(orders) != len(order_ids):
        raise NotFound("Some of these orders are not in this workspace.")
    acct = ledger.ensure_account(workspace.pk, workspace.billing_currency)
    methods = _methods(workspace, orders, shipping_methods or {})
    sel = Selection(orders=orders, prices={}, currency=acct.currency,
                    available=acct.available_amount)
    for order in orders:
        method, picked = methods[order.pk]
        price = pricing.quote(order, method)
        if price.problem and method and not picked:
            price = pricing.quote(order, None)  # the default does not ship there
        sel.prices[order.pk] = price
        if order.state != S.TO_ORDER:
            sel.problems[order.pk] = (f"Order {order.number} is "
                                      f"{order.get_state_display().lower()}: only orders "
                                      "“To order” can be paid.")
        elif not order.store_paid:
            sel.problems[order.pk] = StoreUnpaid(order=order).message
        elif price.problem:
            sel.problems[order.pk] = f"Order {order.number} cannot be paid yet: {price.problem}"
    return sel


# --- paying -------------------------------------------------------------------------------


def orders_pay(*, workspace, order_ids: list[int], shipping_methods: dict[int, str] | None,
               key: str, user=None, expected_total: Decimal | None = None,
               auto: bool = False, remember_defaults: bool = False) -> Payment:
    """Hold the funds for every order of the selection and mark them paid — or nothing.

    `key` makes the confirmation idempotent (a double click pays once).
    `expected_total` is what the seller reviewed: a price change since refuses.
    """
    if not key or len(key) > 150:
        raise ValidationFailed("Missing payment key.")
    key = f"pay:{workspace.pk}:{key}"
    existing = Payment.objects.filter(workspace=workspace, idempotency_key=key).first()
    if existing is not None:
        return existing
    order_ids = list(dict.fromkeys(int(i) for i in order_ids))
    if not order_ids:
        raise ValidationFailed("Select at least one order to pay.")
    if len(order_ids) > MAX_BULK:
        raise ValidationFailed(f"Pay at most {MAX_BULK} orders at once.")
    shipping_methods = shipping_methods or {}
    actor = Actor.rule("Auto-pay") if auto else (Actor.seller(user) if user else
                                                 Actor.system())
    with ledger.locked(workspace.pk) as book:
        if Payment.objects.filter(workspace=workspace, idempotency_key=key).exists():
            return Payment.objects.get(workspace=workspace, idempotency_key=key)
        orders = list(Order.objects.select_for_update(of=("self",)).filter(
            workspace=workspace, pk__in=order_ids).order_by("pk"))
        if len(orders) != len(order_ids):
            raise NotFound("Some of these orders are not in this workspace.")
        for order in orders:
            if order.state != S.TO_ORDER:
                raise Conflict(f"Order {order.number} is {order.get_state_display().lower()}: "
                               "only orders “To order” can be paid.", order_id=order.pk)
            if not order.store_paid:
                raise StoreUnpaid(order=order)
        methods = _methods(workspace, orders, shipping_methods)
        frozen = {order.pk: pricing.freeze(workspace, order.pk, methods[order.pk][0])
                  for order in orders}
        total = sum((p.total for p in frozen.values()), ZERO)
        if expected_total is not None and total != expected_total:
            raise Conflict("The price changed since you reviewed it ("
                           f"{format_money(expected_total, book.currency)} → "
                           f"{format_money(total, book.currency)}). Review the orders again.",
                           code_detail="price_changed")
        if total > book.available:
            raise InsufficientFunds(needed=total, available=book.available,
                                    currency=book.currency)
        payment = Payment.objects.create(
            workspace=workspace, idempotency_key=key, currency=book.currency, auto=auto,
            product_amount=sum((p.product_amount for p in frozen.values()), ZERO),
            shipping_amount=sum((p.shipping_amount for p in frozen.values()), ZERO),
            total_amount=total, created_by=user)
        for order in orders:
            price = frozen[order.pk]
            product_hold = book.hold(price.product_amount, key=f"{key}:o{order.pk}:product",
                                     purpose=HoldPurpose.PRODUCT, order_id=order.pk,
                                     payment=payment, memo=f"Order {order.number}: product")
            shipping_hold = book.hold(price.shipping_amount, key=f"{key}:o{order.pk}:shipping",
                                      purpose=HoldPurpose.SHIPPING, order_id=order.pk,
                                      payment=payment,
                                      memo=f"Order {order.number}: shipping "
                                      f"({price.shipping_label})")
            book.flush()  # the holds get their ids
            OrderCharge.objects.create(
                workspace=workspace, order=order, payment=payment, currency=book.currency,
                shipping_method=price.shipping_method, shipping_label=price.shipping_label,
                item_count=price.items, product_amount=price.product_amount,
                shipping_amount=price.shipping_amount, handling_amount=price.handling_amount,
                shipping_first_amount=price.first_item,
                shipping_additional_amount=price.additional_item, lines=_json_lines(price),
                product_hold=product_hold, shipping_hold=shipping_hold)
            order_services.order_mark_paid(order_id=order.pk, actor=actor)
            if remember_defaults and shipping_methods.get(order.pk):
                StoreShippingDefault.objects.update_or_create(
                    workspace=workspace, store_id=order.store_id,
                    defaults={"shipping_method": shipping_methods[order.pk]})
        invoices.issue_for_payment(book, payment=payment, orders=orders, prices=frozen)
    return payment


def _json_lines(price: pricing.OrderPrice) -> list[dict]:
    return [{**ln, "unit_amount": str(ln["unit_amount"]), "amount": str(ln["amount"])}
            for ln in price.lines]


# --- following the order: capture and release ------------------------------------------------


def _effective(order: Order) -> str:
    return order.return_state if order.state == S.ON_HOLD and order.return_state else \
        order.state


def order_charge_sync(*, workspace_id: int, order_id: int) -> list:
    """Bring an order's holds in line with its state. Idempotent; run as often as you like.

    in production → capture product cost; shipped/completed → capture shipping too;
    cancelled → release whatever was not captured yet.
    """
    charge = OrderCharge.objects.filter(workspace_id=workspace_id, order_id=order_id).first()
    if charge is None:
        return []
    with ledger.locked(workspace_id) as book:
        order = Order.objects.get(pk=order_id, workspace_id=workspace_id)
        state = _effective(order)
        done = []
        number = order.number
        if order.state == S.CANCELLED:
            for hold_id, what in ((charge.product_hold_id, "product"),
                                  (charge.shipping_hold_id, "shipping")):
                if hold_id:
                    done.append(book.release(hold_id, key=f"order:{order_id}:release:{what}",
                                             memo=f"Order {number} cancelled: {what} "
                                             "released"))
        else:
            if state in (S.IN_PRODUCTION, S.SHIPPED, S.COMPLETED) and charge.product_hold_id:
                done.append(book.capture(charge.product_hold_id,
                                         key=f"order:{order_id}:capture:product",
                                         memo=f"Order {number} in production: product cost"))
            if state in (S.SHIPPED, S.COMPLETED) and charge.shipping_hold_id:
                done.append(book.capture(charge.shipping_hold_id,
                                         key=f"order:{order_id}:capture:shipping",
                                         group_id=charge.group_id,
                                         memo=f"Order {number} shipped: shipping"))
        return [e for e in done if e is not None]


def order_charge_sync_for_event(*, workspace_id: int, order_event_id: int) -> list:
    event = OrderEvent.objects.filter(pk=order_event_id, workspace_id=workspace_id).first()
    if event is None:
        return []
    return order_charge_sync(workspace_id=workspace_id, order_id=event.order_id)


def shipment_shipping_capture(*, workspace_id: int, order_event_id: int):
    """A parcel left (`shipment.shipped`): capture its share of the order's shipping hold,
    by quantity of the items it carries. What is left is captured when the order is
    shipped (order_charge_sync), so a lost task only delays money, never loses it; the
    ledger key makes a replay harmless."""
    from orders.models import LineItem

    event = OrderEvent.objects.filter(pk=order_event_id, workspace_id=workspace_id,
                                      type="shipment.shipped").first()
    if event is None:
        return None
    charge = (OrderCharge.objects.select_related("shipping_hold")
              .filter(workspace_id=workspace_id, order_id=event.order_id).first())
    hold = charge.shipping_hold if charge else None
    if hold is None or not hold.is_open:
        return None
    shipped = sum(max(int(li.get("quantity") or 0), 0)
                  for li in (event.data or {}).get("line_items") or [])
    total = sum(LineItem.objects.filter(order_id=event.order_id).values_list(
        "quantity", flat=True))
    if shipped <= 0 or total <= 0:
        return None
    remaining = hold.amount - hold.captured_amount - hold.released_amount
    share = min(quantize(hold.amount * shipped / total, hold.currency), remaining)
    if share <= 0:
        return None
    shipment = (event.data or {}).get("shipment_id") or event.pk
    try:
        return ledger.hold_capture(
            workspace_id=workspace_id, hold_id=hold.pk,
            key=f"order:{event.order_id}:capture:shipping:parcel:{shipment}", amount=share,
            memo=f"Order {event.order.number}: a parcel shipped, its share of shipping")
    except Conflict:  # the order's own capture took the rest meanwhile
        return None


def _charges_needing_sync(workspace_id: int | None = None):
    """(workspace_id, order_id) of charges whose order moved on since their holds did."""
    from django.db.models import Q

    need = OrderCharge.objects.filter(
        Q(order__state=S.CANCELLED, product_hold__is_open=True)
        | Q(order__state=S.CANCELLED, shipping_hold__is_open=True)
        | Q(order__state__in=[S.IN_PRODUCTION, S.SHIPPED, S.COMPLETED],
            product_hold__is_open=True)
        | Q(order__state__in=[S.SHIPPED, S.COMPLETED], shipping_hold__is_open=True)
    )
    if workspace_id is not None:
        need = need.filter(workspace_id=workspace_id)
    return need.order_by("order_id").values_list("workspace_id", "order_id")


def order_charges_sync(*, workspace_id: int, limit: int = 5000) -> int:
    """Every charge of one workspace that needs a capture or release (the doorbell);
    more than `limit` wait for the next ring or the sweep."""
    due = list(_charges_needing_sync(workspace_id)[:limit])
    for _, order_id in due:
        order_charge_sync(workspace_id=workspace_id, order_id=order_id)
    return len(due)


def order_charge_sweep(*, limit: int = 500) -> int:
    """Charges whose order moved on while a task was lost (called with scopes disabled)."""
    count = 0
    for workspace_id, order_id in _charges_needing_sync()[:limit]:
        order_charge_sync(workspace_id=workspace_id, order_id=order_id)
        count += 1
    return count


# --- staff refund after capture --------------------------------------------------------------


def order_refund(*, workspace_id: int, order_id: int, amount, reason: str, staff_user,
                 key: str):
    """Staff give captured money back to the seller's balance (a claim, a cancel in
    production). Never more than was captured for the order, minus earlier refunds."""
    from billing.topups import parse_amount

    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the order is refunded.", field="reason")
    acct = ledger.ensure_account(workspace_id)
    amount = parse_amount(amount, acct.currency)
    if amount <= 0:
        raise ValidationFailed("A refund must be positive.", field="amount")
    full_key = f"refund:{order_id}:{key}"
    with ledger.locked(workspace_id, full_key) as book:
        replay = book.replayed(kind=EntryKind.REFUND, amount=amount)
        if replay is not None:
            return replay
        refundable = _refundable(workspace_id, order_id)
        if amount > refundable:
            raise Conflict(f"At most {format_money(refundable, book.currency)} of this "
                           "order's captured cost can be refunded.")
        number = Order.objects.filter(pk=order_id).values_list("number", flat=True).first()
        return book.credit(EntryKind.REFUND, amount, key=full_key, order_id=order_id,
                           reason=reason, actor=staff_user,
                           memo=f"Refund for order {number}: {reason}"[:255])


def _refundable(workspace_id: int, order_id: int) -> Decimal:
    """Captured for the order minus what was refunded (read under the ledger lock)."""
    from billing.models import LedgerEntry
    from podhub.core.db import ExactSum

    sums = {row["kind"]: row["total"] or ZERO for row in LedgerEntry.objects.filter(
        workspace_id=workspace_id, order_id=order_id,
        kind__in=[EntryKind.CAPTURE, EntryKind.REFUND]).values("kind").annotate(
        total=ExactSum("amount"))}
    return sums.get(EntryKind.CAPTURE, ZERO) - sums.get(EntryKind.REFUND, ZERO)


def order_refund_captured(*, workspace_id: int, order_id: int, reason: str, key: str,
                          user=None):
    """Give back everything captured for the order and not refunded yet (the provider
    cancelled it before making it: fulfillment/provider_cancel.py). The refund entry, or
    None when nothing was captured. Call it inside the transaction that cancels the
    order: the ledger lock it takes is held to that commit, so a capture racing the
    cancel waits and then finds the order cancelled (and releases instead)."""
    full_key = f"refund:{order_id}:{key}"
    with ledger.locked(workspace_id, full_key) as book:
        replay = book.replayed(kind=EntryKind.REFUND)
        if replay is not None:
            return replay
        amount = _refundable(workspace_id, order_id)
        if amount <= 0:
            return None
        number = Order.objects.filter(pk=order_id).values_list("number", flat=True).first()
        return book.credit(EntryKind.REFUND, amount, key=full_key, order_id=order_id,
                           reason=reason, actor=user,
                           memo=f"Refund for order {number}: {reason}"[:255])


# --- auto-pay -------------------------------------------------------------------------------


def order_auto_pay(*, workspace, order_id: int) -> Payment | None:
    """Pay a connected order of an auto-pay store on arrival, if the balance covers it.

    An order the buyer has not paid the store for yet waits: it is paid on its
    order.store_paid event."""
    order = Order.objects.filter(workspace=workspace, pk=order_id).select_related("store").first()
    if order is None or order.state != S.TO_ORDER or not order.store.auto_pay:
        return None
    if not order.store_paid:
        log.info("auto-pay of order %s waits for the buyer's payment in the store", order_id)
        return None
    if OrderCharge.objects.filter(order_id=order_id).exists():
        return None
    try:
        return orders_pay(workspace=workspace, order_ids=[order_id], shipping_methods=None,
                          key=f"auto:{order_id}", auto=True)
    except (InsufficientFunds, Conflict) as exc:
        log.info("auto-pay of order %s skipped: %s", order_id, exc)
        return None


def auto_pay_for_event(*, workspace_id: int, order_event_id: int | None) -> int:
    from podhub.workspaces.models import Workspace

    workspace = Workspace.objects.get(pk=workspace_id)
    if order_event_id is not None:
        event = OrderEvent.objects.filter(pk=order_event_id, workspace_id=workspace_id).first()
        ids = [event.order_id] if event else []
    else:  # after a top-up: every waiting order of an auto-pay store, oldest first
        stores = Store.objects.filter(workspace_id=workspace_id, auto_pay=True)
        ids = list(Order.objects.filter(workspace_id=workspace_id, state=S.TO_ORDER,
                                        store_paid=True, store__in=stores)
                   .order_by("placed_at", "pk").values_list("pk", flat=True)[:MAX_BULK])
    return sum(1 for oid in ids if order_auto_pay(workspace=workspace, order_id=oid))


def auto_pay_sweep(*, older_than_seconds: int = 30, now=None) -> int:
    """Waiting orders of auto-pay stores whose auto-pay task was lost (a broker
    restart, a worker killed mid-task, the database gone for a moment): each such
    workspace is tried as after a top-up (called with scopes disabled). Orders priced
    in the last `older_than_seconds` are left to their own task."""
    from django.db.models import Exists, OuterRef, Q

    cutoff = (now or timezone.now()) - timedelta(seconds=older_than_seconds)
    charged = OrderCharge.objects.filter(order=OuterRef("pk"))
    waiting = (Order.objects.filter(state=S.TO_ORDER, store_paid=True, store__auto_pay=True)
               .filter(Q(priced_at__isnull=True) | Q(priced_at__lte=cutoff))
               .exclude(Exists(charged))
               .values_list("workspace_id", flat=True).distinct())
    return sum(auto_pay_for_event(workspace_id=ws, order_event_id=None)
               for ws in sorted(set(waiting)))


# --- group shipping ----------------------------------------------------------------------------

_ADDRESS_FIELDS = ("name", "company", "address1", "address2", "city", "province", "zip",
                   "country_code")


def address_key(address: dict) -> str:
    norm = "|".join(" ".join(str((address or {}).get(f) or "").lower().split())
                    for f in _ADDRESS_FIELDS)
    return hashlib.sha256(norm.encode()).hexdigest()[:32]


GROUPABLE_STATES = (S.AWAITING_SUBMISSION, S.IN_PRODUCTION)


def _groupable(workspace_id: int):
    from django.db.models import Q

    in_state = Q(order__state__in=GROUPABLE_STATES) | Q(
        order__state=S.ON_HOLD, order__return_state__in=GROUPABLE_STATES)
    return (OrderCharge.objects.filter(
        in_state, workspace_id=workspace_id, group__isnull=True, shipping_hold__is_open=True,
        shipping_hold__released_amount=0).select_related("order", "shipping_hold"))


@dataclass
class GroupSuggestion:
    charges: list[OrderCharge]
    address: dict
    shipping_label: str
    fee: Decimal
    separate: Decimal

    @property
    def currency(self) -> str:
        return self.charges[0].currency

    @property
    def saving(self) -> Decimal:
        return self.separate - self.fee

    @property
    def order_ids(self) -> list[int]:
        return [c.order_id for c in self.charges]


def consolidated_fee(charges: list[OrderCharge]) -> Decimal:
    """One parcel: first item + each additional item at the method's rates, one handling."""
    items = sum(c.item_count for c in charges)
    first = max(c.shipping_first_amount for c in charges)
    additional = max(c.shipping_additional_amount for c in charges)
    handling = max(c.handling_amount for c in charges)
    return first + additional * max(items - 1, 0) + handling


def group_suggestions(*, workspace) -> list[GroupSuggestion]:
    """Paid orders with the same address and the same shipping method (provider routing
    joins the key when fulfillment registers it), cheaper together."""
    buckets: dict[tuple, list[OrderCharge]] = {}
    for c in _groupable(workspace.pk).order_by("order__placed_at", "pk"):
        buckets.setdefault((address_key(c.order.shipping_address), c.shipping_method),
                           []).append(c)
    out = []
    for charges in buckets.values():
        if len(charges) < 2:
            continue
        fee = consolidated_fee(charges)
        separate = sum((c.shipping_amount for c in charges), ZERO)
        if fee < separate:
            out.append(GroupSuggestion(charges=charges, address=charges[0].order.shipping_address,
                                       shipping_label=charges[0].shipping_label, fee=fee,
                                       separate=separate))
    return out


def group_create(*, workspace, order_ids: list[int], user=None) -> ShipmentGroup:
    """Ship these paid orders as one parcel: one consolidated fee, the difference released."""
    order_ids = sorted({int(i) for i in order_ids})
    if len(order_ids) < 2:
        raise ValidationFailed("Pick at least two paid orders to ship together.")
    with ledger.locked(workspace.pk) as book:
        list(Order.objects.select_for_update(of=("self",)).filter(
            workspace=workspace, pk__in=order_ids).order_by("pk").values_list("pk", flat=True))
        charges = list(OrderCharge.objects.filter(workspace=workspace, order_id__in=order_ids)
                       .select_related("order", "shipping_hold").order_by("order_id"))
        if len(charges) != len(order_ids):
            raise Conflict("Only paid orders can be shipped together.")
        ok_ids = set(_groupable(workspace.pk).filter(order_id__in=order_ids)
                     .values_list("order_id", flat=True))
        for c in charges:
            if c.order_id not in ok_ids:
                raise Conflict(f"Order {c.order.number} can no longer join a group (already "
                               "grouped, shipped, or cancelled).")
        keys = {address_key(c.order.shipping_address) for c in charges}
        if len(keys) != 1:
            raise Conflict("These orders do not go to the same address.")
        if len({c.shipping_method for c in charges}) != 1:
            raise Conflict("These orders use different shipping methods: pick one method.")
        fee = consolidated_fee(charges)
        separate = sum((c.shipping_amount for c in charges), ZERO)
        if fee >= separate:
            raise Conflict("Shipping these orders together would not cost less.")
        group = ShipmentGroup.objects.create(
            workspace=workspace, address=charges[0].order.shipping_address,
            address_key=keys.pop(), shipping_method=charges[0].shipping_method,
            currency=book.currency, item_count=sum(c.item_count for c in charges),
            fee_amount=fee, separate_amount=separate, created_by=user)
        # Each order keeps a share of the one fee; the rest of its hold goes back.
        first, rest = charges[0], charges[1:]
        shares = {first.pk: first.shipping_first_amount + first.shipping_additional_amount
                  * max(first.item_count - 1, 0) + first.handling_amount}
        for c in rest:
            shares[c.pk] = first.shipping_additional_amount * c.item_count
        shares[first.pk] += fee - sum(shares.values())  # rounding lands on the first order
        for c in charges:
            give_back = c.shipping_hold.remaining_amount - shares[c.pk]
            if give_back < 0:
                raise Conflict(f"Order {c.order.number}: the group fee share exceeds its hold.")
            book.release(c.shipping_hold_id, give_back, key=f"group:{group.pk}:o{c.order_id}",
                         group_id=group.pk,
                         memo=f"Order {c.order.number} joins shipment group {group.pk}: "
                         "shipping difference released")
        OrderCharge.objects.filter(pk__in=[c.pk for c in charges]).update(
            group=group, updated_at=timezone.now())
        invoices.issue_for_group(book, group=group, charges=charges, shares=shares)
    return group


@transaction.atomic
def store_default_set(*, workspace, store_id: int, shipping_method: str) -> None:
    if not Store.objects.filter(workspace=workspace, pk=store_id).exists():
        raise NotFound("No such store.")
    StoreShippingDefault.objects.update_or_create(
        workspace=workspace, store_id=store_id, defaults={"shipping_method": shipping_method})
