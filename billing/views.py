"""The seller's Balance, Pay and Invoice pages, and the Stripe webhook."""

import logging
import secrets
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

import stripe
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from billing import invoices, payments, selectors, stripe_events, topups
from billing.ledger import InsufficientFunds
from billing.models import EntryKind, Invoice, TopUp, TopUpStatus
from orders.models import Order, OrderState
from orders.services import StoreUnpaid
from podhub.core.api import error_body
from podhub.core.csv_export import csv_download
from podhub.core.exceptions import NotFound
from podhub.core.money import format_money, quantize
from podhub.core.views import local_path, redirect_local, workspace_view

log = logging.getLogger(__name__)


def _abs(request, name: str, **kwargs) -> str:
    return request.build_absolute_uri(reverse(name, kwargs=kwargs or None))


# --- the Balance page -----------------------------------------------------------------


@workspace_view
@require_GET
def balance(request):
    ws = request.workspace
    filters = selectors.LedgerFilter.from_query(request.GET)
    page = Paginator(selectors.entry_list(workspace=ws, filters=filters), 50).get_page(
        request.GET.get("page"))
    suggested = request.GET.get("amount", "")
    account = selectors.account_get(workspace=ws)
    profile = selectors.profile_get(workspace=ws)
    return render(request, "billing/balance.html", {
        "section": "balance",
        "account": account,
        "holds": list(selectors.open_hold_list(workspace=ws)),
        "entries": page,
        "filters": filters,
        "filter_query": "&".join(f"{k}={v}" for k, v in filters.as_query().items()),
        "kinds": EntryKind.choices,
        "top_ups": selectors.top_up_list(workspace=ws),
        "profile": profile,
        "invoices": selectors.invoice_list(workspace=ws, limit=10),
        "suggested_amount": suggested,
        "this_month": timezone.now().strftime("%Y-%m"),
        "min_top_up": topups.top_up_min(),
        "max_top_up": topups.top_up_max(),
        "recharge_capped": _recharge_capped_note(profile, account.currency),
    })


def _recharge_capped_note(profile, currency: str) -> str:
    """The Balance page's note while auto-recharge waits for its daily cap to free up."""
    if profile is None or not profile.auto_recharge or profile.recharge_capped_at is None:
        return ""
    if profile.recharge_capped_at <= timezone.now() - topups.DAY:
        return ""
    count, total = topups.recharge_caps(profile)
    return (f"Auto-recharge reached its daily cap ({count} charges or "
            f"{format_money(total, currency)} in any 24 hours) and waits until older "
            "charges leave that window; top up by hand if orders are waiting.")


@workspace_view
@require_POST
def top_up(request):
    top_up = topups.top_up_start(
        workspace=request.workspace, by=request.membership, amount=request.POST.get("amount", ""),
        success_url=_abs(request, "billing:top_up_return") + "?top_up=TOPUP_ID",
        cancel_url=_abs(request, "billing:top_up_cancel") + "?top_up=TOPUP_ID")
    return redirect(top_up.checkout_url)


@workspace_view
@require_GET
def top_up_cancel(request):
    """Stripe's cancel URL: the seller left the checkout; the top-up ends there."""
    top_up_id = request.GET.get("top_up", "")
    found = (topups.top_up_abandon(workspace=request.workspace, top_up_id=int(top_up_id))
             if top_up_id.isdigit() else None)
    if found is not None and found.status == TopUpStatus.EXPIRED:
        messages.info(request, f"Top-up of {format_money(found.amount, found.currency)} "
                      "cancelled: nothing was charged.")
    return redirect("billing:balance")


@workspace_view
@require_GET
def top_up_return(request):
    """Stripe's success URL. The webhook credits; this page only says where it stands."""
    found = None
    if request.GET.get("top_up", "").isdigit():
        found = TopUp.objects.filter(workspace=request.workspace,
                                     pk=int(request.GET["top_up"])).first()
    amount = format_money(found.amount, found.currency) if found is not None else None
    if found is not None and found.status == TopUpStatus.PAID:
        messages.success(request, f"Top-up of {amount} received.")
    elif found is not None:
        messages.info(request, f"Top-up of {amount} is "
                      f"{found.get_status_display().lower()}: the balance updates as soon as "
                      "Stripe confirms the payment.")
    return redirect("billing:balance")


@workspace_view
@require_POST
def card_setup(request):
    url = topups.card_setup_start(workspace=request.workspace, by=request.membership,
                                  success_url=_abs(request, "billing:card_return"),
                                  cancel_url=_abs(request, "billing:balance"))
    return redirect(url)


@workspace_view
@require_GET
def card_return(request):
    messages.info(request, "Card details sent to Stripe: the card shows here once Stripe "
                  "confirms it.")
    return redirect("billing:balance")


@workspace_view
@require_POST
def auto_recharge(request):
    enabled = request.POST.get("enabled") == "on"
    topups.auto_recharge_configure(workspace=request.workspace, by=request.membership,
                                   enabled=enabled,
                                   threshold=request.POST.get("threshold", "0"),
                                   amount=request.POST.get("amount", "0"))
    messages.success(request, "Auto-recharge is on." if enabled else "Auto-recharge is off.")
    return redirect("billing:balance")


# --- CSV, statement, invoices --------------------------------------------------------------


@workspace_view
@require_GET
def ledger_csv(request):
    """The ledger with the page's filters; amounts are numbers, text cells are escaped
    against spreadsheet formulas (podhub/core/csv_export.py).

    A CSV is data, not display: amounts stay plain decimal numbers in the currency's
    minor units (12.50, 1500, 1.500) beside a currency column, never "$12.50", so a
    spreadsheet sums them (docs/money.md)."""
    filters = selectors.LedgerFilter.from_query(request.GET)
    entries = selectors.entry_list(workspace=request.workspace, filters=filters).order_by(
        "created_at", "id")

    def row(e):
        def n(amount):
            return quantize(amount, e.currency)

        return [e.pk, e.created_at.strftime("%Y-%m-%d %H:%M:%S"), e.kind, n(e.amount),
                e.currency, n(e.balance_delta), n(e.held_delta), n(e.balance_after),
                n(e.available_after), e.order.number if e.order_id else "", e.memo, e.reason,
                e.idempotency_key]

    rows = (row(e) for e in entries.iterator(chunk_size=500))
    return csv_download("podhub-ledger.csv", [
        "id", "time_utc", "kind", "amount", "currency", "balance_delta", "held_delta",
        "balance_after", "available_after", "order", "memo", "reason", "idempotency_key"],
        rows)


@workspace_view
@require_GET
def statement(request):
    raw = request.GET.get("month") or timezone.now().strftime("%Y-%m")
    try:
        month = date.fromisoformat(raw + "-01")
    except ValueError:
        month = timezone.now().date().replace(day=1)
    st = selectors.statement_get(workspace=request.workspace, month=month)
    prev = (month.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1).strftime("%Y-%m")
    return render(request, "billing/statement.html", {
        "section": "balance", "st": st, "prev": prev, "next": nxt,
        "totals": [(EntryKind(k).label, v) for k, v in st.totals.items()]})


@workspace_view
@require_GET
def invoice_list(request):
    return render(request, "billing/invoices.html", {
        "section": "balance", "invoices": selectors.invoice_list(workspace=request.workspace,
                                                                 limit=500)})


def _invoice(request, invoice_id: int) -> Invoice:
    found = selectors.invoice_get(workspace=request.workspace, invoice_id=invoice_id)
    if found is None:
        raise NotFound("No such invoice.")
    return found


@workspace_view
@require_GET
def invoice_detail(request, invoice_id: int):
    return render(request, "billing/invoice.html", {"section": "balance",
                                                     "invoice": _invoice(request, invoice_id)})


@workspace_view
@require_GET
def invoice_pdf(request, invoice_id: int):
    found = _invoice(request, invoice_id)
    response = HttpResponse(invoices.render_pdf(found), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{found.number}.pdf"'
    return response


# --- paying orders ---------------------------------------------------------------------------


def _ids(values) -> list[int]:
    return [int(v) for v in values if str(v).isdigit()][:payments.MAX_BULK]


def _methods(params, ids) -> dict[int, str]:
    return {i: params[f"ship_{i}"] for i in ids if params.get(f"ship_{i}")}


def _missing_top_up(missing: Decimal, currency: str) -> Decimal:
    return max(quantize(missing, currency), topups.top_up_min())


@workspace_view
@require_POST
def pay_selected(request):
    """The order list's "Pay selected": on to the review of those orders (the list's
    form posts; the review is a page of its own)."""
    from urllib.parse import urlencode

    from orders.views import selected_ids

    ids = selected_ids(request, what="pay")
    url = reverse("billing:pay") + "?" + urlencode([("orders", i) for i in ids])
    return redirect_local(request, url, fallback=reverse("billing:pay"))


def pay_step(order):
    """The order page's next step when the order waits to be paid (orders/panels.py):
    paying starts from the order and comes back to it."""
    from orders.panels import NextStep

    if order.state != OrderState.TO_ORDER or not order.store_paid:
        return None
    return NextStep(label="Pay this order", testid="next-pay",
                    url=f"{reverse('billing:pay')}?orders={order.pk}&next=/orders/{order.pk}/")


@workspace_view
def pay(request):
    """Choose `to_order` orders, review the itemised total, confirm: funds are held.

    Orders still waiting for the buyer's payment in the store are listed, not selectable."""
    ws = request.workspace
    params = request.POST if request.method == "POST" else request.GET
    ids = _ids(params.getlist("orders"))
    if not ids:
        waiting = list(Order.objects.filter(workspace=ws, state=OrderState.TO_ORDER)
                       .select_related("store").order_by("placed_at", "pk")[:payments.MAX_BULK])
        return render(request, "billing/pay_choose.html", {"section": "balance",
                                                           "orders": waiting})
    methods = _methods(params, ids)
    error, status = None, 200
    if request.method == "POST":
        try:
            expected = Decimal(params.get("expected_total", ""))
        except InvalidOperation:
            expected = None
        try:
            payment = payments.orders_pay(
                workspace=ws, order_ids=ids, shipping_methods=methods, user=request.user,
                key=params.get("key", ""), expected_total=expected,
                remember_defaults=params.get("remember") == "on")
        except (InsufficientFunds, StoreUnpaid) as exc:
            error, status = exc, 409
        else:
            count = payment.charges.count()
            total = format_money(payment.total_amount, payment.currency)
            messages.success(request, f"Paid {count} order{'s' if count != 1 else ''}: "
                             f"{total} held on your balance.")
            # back where paying started (the order's page, the list), else the receipt
            return redirect_local(request, params.get("next"),
                                  fallback=reverse("billing:balance") + f"?paid={payment.pk}")
    sel = payments.selection_price(workspace=ws, order_ids=ids, shipping_methods=methods)
    return render(request, "billing/pay_review.html", {
        "section": "balance", "sel": sel,
        "rows": [(o, sel.prices[o.pk], sel.problems.get(o.pk)) for o in sel.orders],
        "key": params.get("key") or secrets.token_urlsafe(16),
        "error": error, "next": local_path(request, params.get("next"), fallback=""),
        "top_up_amount": _missing_top_up(sel.missing, sel.currency) if sel.missing else None,
    }, status=status)


@workspace_view
def groups(request):
    ws = request.workspace
    if request.method == "POST":
        group = payments.group_create(workspace=ws, order_ids=_ids(request.POST.getlist(
            "orders")), user=request.user)
        messages.success(request, f"Shipment group {group.pk}: {group.item_count} items ship "
                         f"together for {format_money(group.fee_amount, group.currency)}; "
                         f"{format_money(group.saved_amount, group.currency)} released.")
        return redirect("billing:invoice", invoice_id=group.invoice.pk)
    return render(request, "billing/groups.html", {
        "section": "balance", "suggestions": payments.group_suggestions(workspace=ws)})


# --- Stripe ----------------------------------------------------------------------------------


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Verify the signature (and its age), store the event, acknowledge; process later."""
    try:
        row, created = stripe_events.stripe_event_receive(
            payload=request.body, sig_header=request.headers.get("Stripe-Signature", ""))
    except stripe.SignatureVerificationError:
        return JsonResponse(error_body("bad_signature", "The Stripe-Signature does not match."),
                            status=401)
    except (ValueError, KeyError) as exc:  # not JSON, nested too deep, no event id
        reason = str(exc) if isinstance(exc, ValueError) else f"{exc} is missing"
        return JsonResponse(error_body("malformed_event", f"Not a Stripe event: {reason}"),
                            status=400)
    return JsonResponse({"received": True, "duplicate": not created})


@workspace_view
@require_GET
def order_panel(request, order_id: int):
    """The order page's payment panel (htmx partial, served by billing as STYLE.md §0 asks)."""
    from billing.models import Hold, LedgerEntry, OrderCharge

    ws = request.workspace
    order = Order.objects.filter(workspace=ws, pk=order_id).first()
    if order is None:
        raise NotFound("No such order in this workspace.")
    charge = (OrderCharge.objects.filter(workspace=ws, order=order)
              .select_related("payment__invoice", "group").first())
    return render(request, "billing/_order_panel.html", {
        "order": order, "charge": charge,
        "holds": list(Hold.objects.filter(workspace=ws, order=order).order_by("pk")),
        "entries": list(LedgerEntry.objects.filter(workspace=ws, order=order)
                        .order_by("created_at", "id")),
    })
