"""Every write of the quotes app: mapping orders to the catalog, quotes, links, SKU
rules, and the price frozen at payment.

How an order gets priced (docs/pricing.md):

1. orders/services/ writes `order.imported` / `order.created` / `order.updated`;
   quotes/apps.py subscribed `order_evaluate_task` to them, which runs `order_evaluate`
   in a worker after that commit.
2. `order_evaluate` maps every line (quotes.mapping). All priced: the lines get
   their `catalog_variant_id` and `orders.services.order_mark_priced` moves the
   order to `to_order` (and runs the loss guard). Otherwise each unpriced line
   says why in `unmapped_reason`, and its store product gets one quote request.
3. Staff send the quote from the admin (`quote_send`); the seller accepts
   (`quote_accept`: links + accepted prices, every waiting order re-evaluated)
   or declines (`quote_decline`, optionally cancelling the waiting orders).
4. A line whose reason is still the orders app's placeholder has not been
   evaluated: `pricing_sweep` (beat) catches any follow-up that was lost.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from orders import services as order_services
from orders.events import Actor
from orders.models import CancelReason, LineItem, Order, OrderEvent, OrderState, Store
from podhub.core import mail
from podhub.core.exceptions import Conflict, NotFound, ValidationFailed
from podhub.core.money import format_money
from podhub.workspaces.models import Membership, Role, Workspace
from quotes import calc, mapping, pricing
from quotes.models import (
    OPEN_QUOTE_STATUSES,
    AcceptedPrice,
    ArtworkSource,
    LinkSource,
    OrderPrice,
    Product,
    ProductLink,
    Quote,
    QuoteLine,
    QuoteStatus,
    RuleKind,
    SetupFeeCharge,
    SkuRule,
    Variant,
)
from quotes.tasks import pricing_sweep_task

log = logging.getLogger(__name__)
S = OrderState

CATALOG_ACTOR = Actor.system("Catalog")
# The orders app's placeholder on a line nobody has mapped yet: "not evaluated".
PENDING_REASON = order_services.UNMAPPED_REASON
EVALUATE_ON = frozenset({"order.imported", "order.created", "order.updated", "order.edited"})
REASON_MAX = 255


class QuoteExpired(Conflict):
    """This quote is no longer valid."""

    code = "quote_expired"


# --- which orders wait for prices -------------------------------------------------------


def waiting_q(prefix: str = "") -> Q:
    """Orders (or, with prefix "order__", lines) still waiting for prices."""
    return Q(**{f"{prefix}state": S.IN_QUOTATION}) | Q(
        **{f"{prefix}state": S.ON_HOLD, f"{prefix}return_state": S.IN_QUOTATION})


def _is_waiting(order: Order) -> bool:
    return order.state == S.IN_QUOTATION or (
        order.state == S.ON_HOLD and order.return_state == S.IN_QUOTATION)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"


# --- mapping an order ----------------------------------------------------------------------


def order_evaluate(*, workspace: Workspace, order_id: int, now: datetime | None = None,
                   skip_locked: bool = False) -> Order | None:
    """Map every line of a waiting order; price it when all map, else explain and quote.

    Idempotent: an order that no longer waits is left alone. Returns the order
    (None when it is locked by someone else and `skip_locked`).
    """
    now = now or timezone.now()
    with transaction.atomic():
        order = (Order.objects.select_for_update(of=("self",), skip_locked=skip_locked)
                 .select_related("store", "workspace")
                 .filter(workspace=workspace, pk=order_id).first())
        if order is None:
            if skip_locked:
                return None
            raise NotFound("No such order in this workspace.")
        if not _is_waiting(order):
            return order
        lines = list(LineItem.objects.filter(order=order).order_by("pk"))
        if not lines:
            return order
        bd, unpriced = _map(order, lines)
        quotes = _quotes_for(order, unpriced, now=now)
        for ln, why in unpriced:
            ln.unmapped_reason = _short(f"Not connected: {why}. "
                                        + _quote_sentence(quotes[mapping.product_key(ln)]))
        order_services.lines_set_mapping(order_id=order.pk, mapping=_mapping_of(lines),
                                         now=now)
        if bd.items_priced:
            return order_services.order_mark_priced(order_id=order.pk, actor=CATALOG_ACTOR,
                                                    now=now)
        return order


def _map(order: Order, lines: list[LineItem]) -> tuple[pricing.Breakdown,
                                                       list[tuple[LineItem, str]]]:
    """Map each line to a priced catalog variant (setting catalog_variant_id and
    unmapped_reason in memory): the price breakdown, and the lines left unpriced with
    why (each needs a quote)."""
    matches = mapping.resolve(workspace=order.workspace, store=order.store, lines=lines)
    sources = mapping.price_sources(
        workspace=order.workspace, variants=[m.variant for m in matches.values() if m])
    for ln in lines:
        m = matches[ln.pk]
        ln.catalog_variant_id = m.variant.pk if m and m.variant.pk in sources else None
    bd = pricing.price_order(order=order, lines=lines, sources=sources)
    unpriced: list[tuple[LineItem, str]] = []
    for ln, lp in zip(lines, bd.lines, strict=True):
        if bd.problems:
            ln.catalog_variant_id, ln.unmapped_reason = None, _short(bd.problems[0])
        elif lp.is_priced:
            ln.unmapped_reason = ""
        elif ln.catalog_variant_id:  # mapped and priced, but not in our currency
            ln.catalog_variant_id, ln.unmapped_reason = None, _short(lp.unpriced_reason)
        else:
            unpriced.append((ln, _why_unpriced(ln, matches[ln.pk])))
    return bd, unpriced


def order_map_lines(order: Order, lines: list[LineItem]) -> dict[int, str]:
    """orders.hooks line mapper: map the lines of an order a store edit changed, inside
    the caller's transaction; {line id: why} for the lines left unpriced (their quotes
    are asked for after commit, when order_evaluate sees the order waiting again)."""
    if not lines:
        return {}
    _, unpriced = _map(order, lines)
    order_services.lines_set_mapping(order_id=order.pk, mapping=_mapping_of(lines))
    reasons = {ln.pk: ln.unmapped_reason for ln in lines
               if not ln.catalog_variant_id and ln.unmapped_reason != PENDING_REASON}
    reasons.update({ln.pk: why for ln, why in unpriced})
    return reasons


def _mapping_of(lines: list[LineItem]) -> dict[int, order_services.LineMapping]:
    """What _map decided for each line, for orders to record."""
    return {ln.pk: order_services.LineMapping(ln.catalog_variant_id, ln.unmapped_reason)
            for ln in lines}


def _why_unpriced(line: LineItem, match: mapping.Match | None) -> str:
    if match is not None:
        return f"mapped to {match.variant} ({match.how}), which has no price for you yet"
    if line.sku:
        return f"SKU {line.sku} matches no catalog product, link or SKU rule"
    return "the item has no SKU and its store product is not linked to the catalog"


def _quote_sentence(quote: Quote) -> str:
    if quote.status == QuoteStatus.SENT:
        return (f"A quote sent {quote.sent_at:%Y-%m-%d} is waiting for your answer under "
                "Quotes.")
    if quote.status == QuoteStatus.DECLINED:
        why = f" ({quote.decline_reason})" if quote.decline_reason else ""
        return f"You declined its quote{why}: cancel the order or ask for a new quote."
    return (f"PodHub staff are preparing a quote (requested "
            f"{quote.requested_at:%Y-%m-%d %H:%M} UTC).")


def _quotes_for(order: Order, unpriced: list[tuple[LineItem, str]], *,
                now: datetime) -> dict[str, Quote]:
    """One quote per unpriced store product (made or reopened); keyed by product key."""
    by_product: dict[str, list[LineItem]] = defaultdict(list)
    for ln, _ in unpriced:
        by_product[mapping.product_key(ln)].append(ln)
    quotes: dict[str, Quote] = {}
    for key, lines in by_product.items():
        quote, created = _quote_get_or_create(order, key, lines[0], now=now)
        new_lines = []
        for ln in lines:
            ql, made = QuoteLine.objects.get_or_create(
                quote=quote, variant_key=mapping.variant_key(ln),
                defaults={"workspace_id": order.workspace_id,
                          "variant_title": ln.variant_title[:255], "sku": ln.sku,
                          "currency": order.workspace.billing_currency or "USD"})
            if made:
                new_lines.append(ql)
        if not quote.images and any(ln.images for ln in lines):
            quote.images = next(ln.images for ln in lines if ln.images)
            quote.save(update_fields=["images", "updated_at"])
        if not quote.personalization_sample and any(ln.personalization for ln in lines):
            quote.personalization_sample = next(ln.personalization for ln in lines
                                                if ln.personalization)
            quote.save(update_fields=["personalization_sample", "updated_at"])
        reopened = False
        if new_lines and not created and quote.status != QuoteStatus.REQUESTED and \
                quote.status != QuoteStatus.DECLINED:
            _history(quote, "reopened", by="PodHub", now=now,
                     note="new variant: " + ", ".join(str(q) for q in new_lines))
            quote.status = QuoteStatus.REQUESTED
            quote.requested_at = now
            quote.save(update_fields=["status", "requested_at", "history", "updated_at"])
            reopened = True
        if created or reopened:
            order_services.record_event(
                order=order, type="order.quote_requested", actor=CATALOG_ACTOR,
                message=f"Quote requested for {quote.title}.", data={"quote_id": quote.pk})
        quotes[key] = quote
    return quotes


def _quote_get_or_create(order: Order, key: str, line: LineItem, *,
                         now: datetime) -> tuple[Quote, bool]:
    quote = Quote.objects.select_for_update().filter(store=order.store, product_key=key).first()
    if quote is not None:
        return quote, False
    try:
        with transaction.atomic():
            quote = Quote.objects.create(
                workspace_id=order.workspace_id, store=order.store, product_key=key,
                title=line.title[:255], store_product_id=line.store_product_id,
                images=line.images, personalization_sample=line.personalization,
                sample_order=order, requested_at=now,
                history=[{"at": now.isoformat(), "what": "requested", "by": "PodHub",
                          "note": f"order {order.number}"}])
            return quote, True
    except IntegrityError:  # a concurrent evaluation made it
        return Quote.objects.select_for_update().get(store=order.store, product_key=key), False


def _history(quote: Quote, what: str, *, by: str, now: datetime, note: str = "") -> None:
    entry = {"at": now.isoformat(), "what": what, "by": by}
    if note:
        entry["note"] = note[:500]
    quote.history = [*quote.history, entry]


def _reevaluate(quote: Quote) -> None:
    """After the quote changed, its waiting orders are evaluated again after commit, so
    their lines say what happened (or get priced)."""
    ids = _mark_pending(mapping.product_key_q(quote.product_key)
                        & Q(order__store_id=quote.store_id), quote.workspace)
    _evaluate_later(quote.workspace, ids)


def _waiting_lines(quote: Quote):
    return LineItem.objects.filter(
        workspace_id=quote.workspace_id, order__store_id=quote.store_id
    ).filter(mapping.product_key_q(quote.product_key)).filter(waiting_q("order__"))


def _waiting_order_ids(quote: Quote) -> list[int]:
    return sorted(set(_waiting_lines(quote).values_list("order_id", flat=True)))


def _evaluate_later(workspace: Workspace, order_ids: list[int]) -> None:
    """After commit, a task re-evaluates each order in its own transaction (the pricing
    sweep is the net)."""
    from quotes.tasks import orders_evaluate_task

    if order_ids:
        orders_evaluate_task.follow_up(workspace_id=workspace.pk, order_ids=list(order_ids))


def orders_evaluate(*, workspace: Workspace, order_ids: list[int]) -> int:
    """Evaluate each order in its own transaction; one failure never blocks the rest."""
    done = 0
    for order_id in order_ids:
        try:
            order_evaluate(workspace=workspace, order_id=order_id)
            done += 1
        except Exception:
            log.exception("order %s: pricing failed; the sweep will retry", order_id)
    return done


def _mark_pending(line_filter: Q, workspace: Workspace | None = None) -> list[int]:
    """Unmapped lines of waiting orders matching the filter become "not evaluated"."""
    return order_services.lines_map_again(lines=line_filter & waiting_q("order__"),
                                          workspace=workspace)


# --- order events and the sweep ----------------------------------------------------------


def order_evaluate_for_event(*, workspace: Workspace, event_id: int) -> Order | None:
    """The subscribed task's work: evaluate the order a new or changed event is about."""
    order_id = OrderEvent.objects.filter(workspace=workspace, pk=event_id).values_list(
        "order_id", flat=True).first()
    if order_id is None:
        return None
    return order_evaluate(workspace=workspace, order_id=order_id)


def pricing_sweep(*, limit: int = 200, now: datetime | None = None,
                  budget_seconds: float = 45.0) -> int:
    """Beat: evaluate waiting orders nobody has evaluated (a lost follow-up).

    Batch after batch, in placed order, while a batch comes back full and the time
    budget lasts (45 s of each minute's tick): when Redis is lost with thousands of
    follow-ups queued, one batch of 200 per 5-minute tick took most of an hour to catch
    up (docs/benchmarks.md "The full drill at 8.3 orders/s"). Each batch starts after
    the last order looked at, so an order that cannot be priced now is not taken again
    in the same sweep."""
    deadline = time.monotonic() + budget_seconds
    after: tuple | None = None
    done = 0
    while True:
        due = _pricing_due(limit=limit, after=after)
        with scopes_disabled():
            workspaces = Workspace.objects.in_bulk({ws for _, ws, _ in due})
        for order_id, ws_id, _ in due:
            workspace = workspaces[ws_id]
            with scope(workspace=workspace):
                try:
                    if order_evaluate(workspace=workspace, order_id=order_id, now=now,
                                      skip_locked=True) is not None:
                        done += 1
                except Exception:
                    log.exception("order %s: pricing failed in the sweep", order_id)
        if len(due) < limit or time.monotonic() >= deadline:
            return done
        order_id, _, placed_at = due[-1]
        after = (placed_at, order_id)


def _pricing_due(*, limit: int, after: tuple | None) -> list[tuple]:
    """(order id, workspace id, placed at) of waiting orders with lines to evaluate, in
    placed order, after `after` = (placed at, order id) when given."""
    with scopes_disabled():
        pending = LineItem.objects.filter(order=OuterRef("pk")).filter(
            Q(unmapped_reason=PENDING_REASON)
            | Q(unmapped_reason="", catalog_variant_id__isnull=True))
        explained = LineItem.objects.filter(order=OuterRef("pk")).exclude(unmapped_reason="")
        has_lines = LineItem.objects.filter(order=OuterRef("pk"))
        due = Order.objects.filter(waiting_q()).filter(
            Exists(pending) | (Exists(has_lines) & ~Exists(explained)))
        if after is not None:
            due = due.filter(Q(placed_at__gt=after[0]) | Q(placed_at=after[0], pk__gt=after[1]))
        return list(due.order_by("placed_at", "pk")
                    .values_list("pk", "workspace_id", "placed_at")[:limit])


def catalog_recheck() -> int:
    """Staff changed the catalog or a rate: waiting lines are evaluated again (the
    doorbell task runs the sweep after commit). Returns how many orders wait."""
    with scopes_disabled():
        ids = _mark_pending(Q())
    if ids:
        pricing_sweep_task.delay()
    return len(ids)


# --- quotes: staff ----------------------------------------------------------------------------


def _lock_quote(quote_id: int, workspace: Workspace | None = None) -> Quote:
    qs = Quote.objects.select_for_update(of=("self",)).select_related("store", "workspace")
    if workspace is not None:
        qs = qs.filter(workspace=workspace)
    quote = qs.filter(pk=quote_id).first()
    if quote is None:
        raise NotFound("No such quote in this workspace.")
    return quote


_CURRENCY = re.compile(r"^[A-Z]{3}$")
# fn(product_id) -> bool: the product has an active design template. Fulfillment owns the
# templates and registers it at start-up (fulfillment/apps.py); without it, none is asked.
_has_template: Callable[[int], bool] | None = None


def register_template_check(fn: Callable[[int], bool]) -> None:
    global _has_template
    _has_template = fn


def artwork_refusal(product: Product) -> str:
    """Why a product cannot be quoted for its artwork, or "": one set to take its artwork
    from a design template needs an active one (docs/print-files.md)."""
    if product.artwork_source != ArtworkSource.TEMPLATE or _has_template is None:
        return ""
    if _has_template(product.pk):
        return ""
    return (f"{product.name} takes its artwork from a design template and has no active "
            "one, so its orders could never get a print file. Add a design template "
            "(Fulfillment › Design templates) or set the product's artwork to come from the "
            "seller.")


def validate_quote_line(line: QuoteLine, *, workspace_id: int, today: date) -> None:
    """Refuse a quote line that cannot be sent, naming the variant and the problem."""
    what = f"{line.quote.title} · {line}" if line.quote_id else str(line)
    if line.unit_price_amount is None or line.unit_price_amount <= 0:
        raise ValidationFailed(f"{what}: the unit price must be above 0.",
                               field="unit_price_amount", line_id=line.pk)
    if line.setup_fee_amount is None or line.setup_fee_amount < 0:
        raise ValidationFailed(f"{what}: the setup fee must not be negative.",
                               field="setup_fee_amount", line_id=line.pk)
    if not line.production_days or line.production_days < 1:
        raise ValidationFailed(f"{what}: give the production time in days (1 or more).",
                               field="production_days", line_id=line.pk)
    if not _CURRENCY.match(line.currency or ""):
        raise ValidationFailed(f"{what}: the currency must be a three-letter code such as USD.",
                               field="currency", line_id=line.pk)
    if line.valid_until is not None and line.valid_until < today:
        raise ValidationFailed(f"{what}: 'valid until' {line.valid_until} is in the past.",
                               field="valid_until", line_id=line.pk)
    calc.validate_tiers(calc.tiers_from_json(line.tiers), base_price=line.unit_price_amount,
                        what=what)
    if line.catalog_variant_id:
        variant = Variant.objects.select_related("product").get(pk=line.catalog_variant_id)
        owner = variant.product.made_for_workspace_id
        if owner is not None and owner != workspace_id:
            raise ValidationFailed(
                f"{what}: catalog variant {variant.sku} is a custom product of another "
                "workspace; pick a public catalog variant or leave it empty to create one.",
                field="catalog_variant", line_id=line.pk)
        if not variant.is_active:
            raise ValidationFailed(f"{what}: catalog variant {variant.sku} is inactive.",
                                   field="catalog_variant", line_id=line.pk)
        if refusal := artwork_refusal(variant.product):
            raise ValidationFailed(f"{what}: {refusal}", field="catalog_variant",
                                   line_id=line.pk)


@transaction.atomic
def quote_send(*, quote_id: int, by, now: datetime | None = None) -> Quote:
    """Staff send the priced quote: the seller is e-mailed and sees it under Quotes."""
    now = now or timezone.now()
    quote = _lock_quote(quote_id)
    if quote.store.workspace_id != quote.workspace_id:
        raise ValidationFailed("This quote's store belongs to another workspace.")
    if quote.status not in OPEN_QUOTE_STATUSES:
        raise Conflict(f"The quote for {quote.title} is {quote.get_status_display().lower()}: "
                       "only a requested quote can be sent.", quote_status=quote.status)
    lines = list(QuoteLine.objects.filter(quote=quote).select_related("quote").order_by("pk"))
    if not lines:
        raise ValidationFailed(f"The quote for {quote.title} has no variants to price.")
    for line in lines:
        validate_quote_line(line, workspace_id=quote.workspace_id, today=now.date())
    for line in lines:
        if line.catalog_variant_id is None:
            line.catalog_variant = _private_variant(quote, line)
            line.save(update_fields=["catalog_variant", "updated_at"])
    quote.status = QuoteStatus.SENT
    quote.sent_at = now
    quote.sent_by = by
    _history(quote, "sent", by=getattr(by, "email", "staff"), now=now)
    quote.save()
    _reevaluate(quote)
    _email_members(
        quote.workspace_id, subject=f"Your quote for {quote.title} is ready",
        body=f"PodHub priced {quote.title} ({len(lines)} variant{'s' if len(lines) > 1 else ''})."
        "\n\n" + "\n".join(f"- {ln}: {format_money(ln.unit_price_amount, ln.currency)}"
                           + (" + one-time setup fee "
                              f"{format_money(ln.setup_fee_amount, ln.currency)}"
                              if ln.setup_fee_amount else "") for ln in lines)
        + (f"\n\nA note from PodHub: {quote.staff_notes.strip()}"
           if quote.staff_notes.strip() else "")
        + "\n\nAccept it to price your waiting orders of this product and all future ones.",
        path=reverse("quotes:list"), link_label="Review the quote")
    return quote


def _private_variant(quote: Quote, line: QuoteLine) -> Variant:
    """A catalog variant for a custom development, private to the quote's workspace."""
    if quote.product_id is None:
        image = next((i.get("url", "") for i in quote.images if isinstance(i, dict)), "")
        quote.product = Product.objects.create(
            name=quote.title[:200], made_for_workspace_id=quote.workspace_id,
            is_published=False, currency=line.currency, image_url=image[:1000],
            description=f"Custom development for quote #{quote.pk}.")
    options = {"Variant": line.variant_title} if line.variant_title else {}
    return Variant.objects.create(
        product=quote.product, sku=f"Q{quote.pk}-{line.pk}", options=options,
        production_days=line.production_days or 3, price_amount=line.unit_price_amount,
        tiers=line.tiers)


# --- quotes: the seller ------------------------------------------------------------------


@transaction.atomic
def quote_accept(*, workspace: Workspace, quote_id: int, by, now: datetime | None = None
                 ) -> Quote:
    """Accept the quote: every waiting order of the product is priced, and so is every
    later order (an explicit link and the workspace's own price per variant)."""
    now = now or timezone.now()
    quote = _lock_quote(quote_id, workspace)
    if quote.status == QuoteStatus.ACCEPTED:
        raise Conflict(f"The quote for {quote.title} is already accepted.",
                       quote_status=quote.status)
    if quote.status != QuoteStatus.SENT:
        raise Conflict(f"The quote for {quote.title} is {quote.get_status_display().lower()}: "
                       "only a quote PodHub has sent can be accepted.", quote_status=quote.status)
    lines = list(QuoteLine.objects.filter(quote=quote).select_related("catalog_variant")
                 .order_by("pk"))
    if not lines or any(ln.catalog_variant_id is None or ln.unit_price_amount <= 0
                        for ln in lines):
        raise Conflict(f"PodHub is revising the quote for {quote.title}: wait for the new "
                       "one.", quote_status=quote.status)
    expired = [ln.valid_until for ln in lines if ln.valid_until and ln.valid_until < now.date()]
    if expired:
        raise QuoteExpired(f"The quote for {quote.title} expired on {min(expired)}: ask PodHub "
                           "for a new one.", valid_until=str(min(expired)))
    for ln in lines:
        AcceptedPrice.objects.update_or_create(
            workspace=workspace, variant_id=ln.catalog_variant_id,
            defaults={"quote_line": ln, "currency": ln.currency,
                      "unit_price_amount": ln.unit_price_amount,
                      "setup_fee_amount": ln.setup_fee_amount,
                      "production_days": ln.production_days or 3, "tiers": ln.tiers,
                      "accepted_at": now, "accepted_by": by})
        ProductLink.objects.update_or_create(
            store=quote.store, product_key=quote.product_key, variant_key=ln.variant_key,
            defaults={"workspace": workspace, "variant_id": ln.catalog_variant_id,
                      "source": LinkSource.QUOTE, "created_by": by})
    quote.status = QuoteStatus.ACCEPTED
    quote.answered_at = now
    quote.answered_by = by
    _history(quote, "accepted", by=getattr(by, "email", "seller"), now=now)
    quote.save()
    _reevaluate(quote)
    return quote


@transaction.atomic
def quote_decline(*, workspace: Workspace, quote_id: int, by, reason: str,
                  cancel_orders: bool = False, now: datetime | None = None) -> Quote:
    """Decline with a reason; the waiting orders stay (cancel them now or later)."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why you decline the quote (PodHub staff read it).",
                               field="reason")
    if len(reason) > 1000:
        raise ValidationFailed("Keep the reason under 1000 characters.", field="reason")
    quote = _lock_quote(quote_id, workspace)
    if quote.status != QuoteStatus.SENT:
        raise Conflict(f"The quote for {quote.title} is {quote.get_status_display().lower()}: "
                       "only a quote PodHub has sent can be declined.", quote_status=quote.status)
    quote.status = QuoteStatus.DECLINED
    quote.decline_reason = reason
    quote.answered_at = now
    quote.answered_by = by
    _history(quote, "declined", by=getattr(by, "email", "seller"), now=now, note=reason)
    quote.save()
    if cancel_orders:
        quote_cancel_waiting_orders(workspace=workspace, quote_id=quote.pk, by=by, now=now)
    _reevaluate(quote)
    return quote


@transaction.atomic
def quote_cancel_waiting_orders(*, workspace: Workspace, quote_id: int, by,
                                now: datetime | None = None) -> int:
    """After a decline: cancel (reason "seller") every order still waiting for this product."""
    quote = _lock_quote(quote_id, workspace)
    if quote.status != QuoteStatus.DECLINED:
        raise Conflict(f"Decline the quote for {quote.title} before cancelling its orders.",
                       quote_status=quote.status)
    actor = Actor.seller(by) if by is not None else Actor.system("Quotes")
    count = 0
    for order_id in _waiting_order_ids(quote):
        order_services.order_cancel(order_id=order_id, reason=CancelReason.SELLER, actor=actor,
                                    note=f"Quote for {quote.title} declined.", now=now)
        count += 1
    return count


@transaction.atomic
def quote_rerequest(*, workspace: Workspace, quote_id: int, by, note: str = "",
                    now: datetime | None = None) -> Quote:
    """Ask staff for a new quote after declining (or when the old one expired)."""
    now = now or timezone.now()
    quote = _lock_quote(quote_id, workspace)
    expired = quote.status == QuoteStatus.SENT and QuoteLine.objects.filter(
        quote=quote, valid_until__lt=now.date()).exists()
    if quote.status != QuoteStatus.DECLINED and not expired:
        raise Conflict(f"The quote for {quote.title} is {quote.get_status_display().lower()}: "
                       "a new quote can be asked for after declining or expiry.",
                       quote_status=quote.status)
    quote.status = QuoteStatus.REQUESTED
    quote.requested_at = now
    _history(quote, "requested again", by=getattr(by, "email", "seller"), now=now,
             note=note.strip())
    quote.save()
    _reevaluate(quote)
    return quote


# --- links and SKU rules -------------------------------------------------------------------


def _usable_variant(workspace: Workspace, variant_id) -> Variant:
    try:
        variant_id = int(variant_id)
    except (TypeError, ValueError):
        raise ValidationFailed("Pick a catalog product.", field="variant") from None
    variant = mapping.usable_variants(workspace).filter(pk=variant_id).first()
    if variant is None:
        raise NotFound("No such catalog product.", field="variant")
    return variant


def _store_of(workspace: Workspace, store_id) -> Store:
    store = Store.objects.filter(workspace=workspace, pk=store_id).first()
    if store is None:
        raise NotFound("No such store in this workspace.", field="store")
    return store


@transaction.atomic
def product_link_create(*, workspace: Workspace, store_id: int, product_key: str,
                        variant_key: str, variant_id: int, source: str = LinkSource.SELLER,
                        by=None) -> ProductLink:
    """Link one store product variant to a catalog variant; waiting orders re-priced."""
    store = _store_of(workspace, store_id)
    variant = _usable_variant(workspace, variant_id)
    if not product_key or not variant_key:
        raise ValidationFailed("Say which store product and variant to link.")
    link, _ = ProductLink.objects.update_or_create(
        store=store, product_key=product_key[:255], variant_key=variant_key[:255],
        defaults={"workspace": workspace, "variant": variant, "source": source,
                  "created_by": by})
    ids = _mark_pending(mapping.product_key_q(product_key) & Q(order__store=store), workspace)
    _evaluate_later(workspace, ids)
    return link


def product_link_published(*, workspace: Workspace, store_id: int, store_product_id: str,
                           store_variant_id: str, variant_id: int) -> ProductLink:
    """Integrations: a catalog variant was published to the store as this product/variant;
    its orders are priced at import with no quote."""
    if not store_product_id or not store_variant_id:
        raise ValidationFailed("A published product needs the store's product and variant ids.")
    return product_link_create(
        workspace=workspace, store_id=store_id, product_key=f"p:{store_product_id}",
        variant_key=f"v:{store_variant_id}", variant_id=variant_id,
        source=LinkSource.PUBLISHED)


@transaction.atomic
def product_links_published(*, workspace: Workspace, store_id: int, store_product_id: str,
                            variants: dict[str, int]) -> list[ProductLink]:
    """Integrations: a catalog product was published to the store as this product, each
    store variant id (key) being that catalog variant (value). The links are by the
    store's ids, so a SKU the seller edits in the store later still maps; they come
    before every SKU rule (quotes/mapping.py). A catalog variant published before as
    another store product (deleted there, published again) loses its old link; a variant
    no longer in the catalog is left unlinked (its orders wait for a quote)."""
    usable = set(mapping.usable_variants(workspace).filter(
        pk__in=list(variants.values())).values_list("pk", flat=True))
    links = [product_link_published(workspace=workspace, store_id=store_id,
                                    store_product_id=store_product_id,
                                    store_variant_id=store_variant_id, variant_id=variant_id)
             for store_variant_id, variant_id in variants.items() if variant_id in usable]
    ProductLink.objects.filter(
        workspace=workspace, store_id=store_id, source=LinkSource.PUBLISHED,
        variant_id__in=[link.variant_id for link in links],
    ).exclude(product_key=f"p:{store_product_id}"[:255]).delete()
    return links


@transaction.atomic
def quote_link(*, workspace: Workspace, quote_id: int, links: dict[int, int], by,
               now: datetime | None = None) -> Quote:
    """The seller links a quoted product's variants to catalog variants instead of
    waiting for a quote; when every variant is linked the quote closes as linked."""
    now = now or timezone.now()
    quote = _lock_quote(quote_id, workspace)
    if quote.status not in OPEN_QUOTE_STATUSES and quote.status != QuoteStatus.DECLINED:
        raise Conflict(f"The quote for {quote.title} is {quote.get_status_display().lower()}.",
                       quote_status=quote.status)
    lines = {ln.pk: ln for ln in QuoteLine.objects.filter(quote=quote)}
    chosen = {int(k): v for k, v in links.items() if v not in (None, "")}
    if not chosen:
        raise ValidationFailed("Pick a catalog product for at least one variant.")
    for line_id, variant_id in chosen.items():
        if line_id not in lines:
            raise NotFound("No such variant in this quote.")
        product_link_create(workspace=workspace, store_id=quote.store_id,
                            product_key=quote.product_key, variant_key=lines[line_id].variant_key,
                            variant_id=variant_id, source=LinkSource.SELLER, by=by)
    linked = set(ProductLink.objects.filter(
        store=quote.store, product_key=quote.product_key).values_list("variant_key", flat=True))
    if all(ln.variant_key in linked for ln in lines.values()):
        quote.status = QuoteStatus.LINKED
        quote.answered_at = now
        quote.answered_by = by
        _history(quote, "linked", by=getattr(by, "email", "seller"), now=now)
        quote.save()
    return quote


_PATTERN = re.compile(r"^\S{1,128}$")


@transaction.atomic
def sku_rule_create(*, workspace: Workspace, kind: str, pattern: str, variant_id: int,
                    store_id: int | None = None, by=None) -> SkuRule:
    """The seller's SKU rule (exact, or prefix); waiting orders it matches are re-priced."""
    pattern = (pattern or "").strip()
    if kind not in RuleKind.values:
        raise ValidationFailed("Choose exact SKU or SKU prefix.", field="kind")
    if not _PATTERN.match(pattern):
        raise ValidationFailed("Enter a SKU without spaces (at most 128 characters).",
                               field="pattern")
    if kind == RuleKind.PREFIX and len(pattern) < 2:
        raise ValidationFailed("A SKU prefix needs at least 2 characters.", field="pattern")
    store = _store_of(workspace, store_id) if store_id else None
    variant = _usable_variant(workspace, variant_id)
    try:
        with transaction.atomic():
            rule = SkuRule.objects.create(workspace=workspace, store=store, kind=kind,
                                          pattern=pattern, variant=variant, created_by=by)
    except IntegrityError:
        raise Conflict(f"There is already an “{RuleKind(kind).label}” rule for {pattern}.",
                       field="pattern") from None
    flt = Q(sku=pattern) if kind == RuleKind.EXACT else Q(sku__startswith=pattern)
    if store is not None:
        flt &= Q(order__store=store)
    _evaluate_later(workspace, _mark_pending(flt, workspace))
    return rule


@transaction.atomic
def sku_rule_delete(*, workspace: Workspace, rule_id: int) -> None:
    rule = SkuRule.objects.select_for_update().filter(workspace=workspace, pk=rule_id).first()
    if rule is None:
        raise NotFound("No such SKU rule.")
    rule.delete()


# --- the price frozen at payment ------------------------------------------------------------


@transaction.atomic
def snapshot_order_price(*, workspace: Workspace, order_id: int,
                         shipping_method: str | None = None,
                         now: datetime | None = None) -> OrderPrice:
    """Billing calls this when the order is paid: the itemised price is stored on the
    order (OrderPrice) and on each line (`price_snapshot`), setup fees are charged
    once per workspace and product. Idempotent: a second call returns the first
    snapshot, so a later price change never alters a paid order."""
    now = now or timezone.now()
    order = (Order.objects.select_for_update(of=("self",)).select_related("workspace", "store")
             .filter(workspace=workspace, pk=order_id).first())
    if order is None:
        raise NotFound("No such order in this workspace.")
    existing = OrderPrice.objects.filter(workspace=workspace, order=order).first()
    if existing is not None:
        return existing
    if _is_waiting(order) or order.state == S.CANCELLED:
        raise Conflict(f"Order {order.number} is {order.get_state_display().lower()}: it has "
                       "no price to fix.", state=order.state)
    lines = list(LineItem.objects.filter(order=order).order_by("pk"))
    bd = pricing.price_order(order=order, shipping_method=shipping_method, lines=lines)
    if not bd.items_priced:
        first = bd.unpriced[0] if bd.unpriced else None
        why = f"{first.title}: {first.unpriced_reason}" if first else "; ".join(bd.problems)
        raise Conflict(f"Order {order.number} is not fully priced ({why}).")
    if bd.shipping is None:
        raise Conflict(f"Order {order.number} cannot be shipped: {bd.shipping_problem}")
    for fee in bd.setup_fees:
        if fee.amount > 0:
            try:
                with transaction.atomic():
                    SetupFeeCharge.objects.create(workspace=workspace, product_id=fee.product_id,
                                                  order=order, currency=bd.currency,
                                                  amount=fee.amount)
            except IntegrityError:
                raise Conflict("The setup fee of this product was just charged with another "
                               "order: try again to get the updated price.") from None
    data = bd.to_json()
    by_id = {lp["line_id"]: lp for lp in data["lines"]}
    order_services.lines_set_price_snapshot(
        order_id=order.pk, now=now,
        snapshots={ln.pk: {**by_id[ln.pk], "currency": bd.currency, "taken_at": now.isoformat()}
                   for ln in lines})
    return OrderPrice.objects.create(
        workspace=workspace, order=order, currency=bd.currency, total_amount=bd.total,
        shipping_method=bd.shipping.method_code, breakdown=data, taken_at=now)


# --- e-mail -------------------------------------------------------------------------------


def _email_members(workspace_id: int, *, subject: str, body: str, path: str,
                   link_label: str = "Open in PodHub") -> None:
    recipients = list(Membership.objects.filter(
        workspace_id=workspace_id, role__in=[Role.OWNER, Role.ADMIN]
    ).values_list("user__email", flat=True))
    if not recipients:
        return
    url = settings.PUBLIC_BASE_URL + path
    mail.send(to=recipients, subject=f"[PodHub] {subject}", body=body, link=url,
              link_label=link_label, workspace_id=workspace_id)

