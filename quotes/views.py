"""Seller pages: the catalog, SKU rules, quotes, and the order page's price panel.

The price panel is an htmx partial loaded into the order page (a shell owned by
orders) with `hx-get="/orders/<id>/price/"` (STYLE.md §0).
"""

import re

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from orders.models import Store
from podhub.core.exceptions import ValidationFailed
from podhub.core.views import workspace_view
from quotes import calc, checkout, pricing, selectors, services
from quotes.forms import CatalogOrderForm, DeclineForm, SkuRuleForm
from quotes.models import OPEN_QUOTE_STATUSES, QuoteStatus

# --- catalog ----------------------------------------------------------------------------------


@workspace_view
@require_GET
def catalog(request):
    q = request.GET.get("q", "").strip()[:100]
    products = list(selectors.catalog_products(q=q))
    for p in products:
        for v in p.variants.all():
            v.tier_list = calc.tiers_from_json(v.tiers)
    methods, zones = selectors.shipping_table()
    return render(request, "quotes/catalog.html", {
        "section": "catalog", "products": products, "methods": methods, "zones": zones, "q": q,
    })


def _stores(workspace):
    return Store.objects.filter(workspace=workspace, is_active=True).order_by("name", "pk")


@workspace_view
def sku_rules(request):
    ws = request.workspace
    form = SkuRuleForm(request.POST or None, variants=selectors.variant_choices(workspace=ws),
                       stores=_stores(ws))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                rule = services.sku_rule_create(
                    workspace=ws, kind=data["kind"], pattern=data["pattern"],
                    variant_id=data["variant"], store_id=data["store"], by=request.user)
            except ValidationFailed as exc:
                form.add_error(exc.detail.get("field") if exc.detail.get("field") in form.fields
                               else None, exc.message)
                status = 400
            else:
                messages.success(request, f"Rule saved: {rule.get_kind_display()} "
                                 f"{rule.pattern} → {rule.variant}.")
                return redirect("quotes:sku_rules")
        else:
            status = 400
    return render(request, "quotes/sku_rules.html", {
        "section": "catalog", "form": form, "rules": selectors.sku_rule_list(workspace=ws),
    }, status=status)


@workspace_view
@require_POST
def sku_rule_delete(request, rule_id: int):
    services.sku_rule_delete(workspace=request.workspace, rule_id=rule_id)
    messages.success(request, "Rule deleted.")
    return redirect("quotes:sku_rules")


# --- quotes ---------------------------------------------------------------------------------


@workspace_view
@require_GET
def quote_list(request):
    ws = request.workspace
    tab = request.GET.get("tab", "pending")
    if tab not in {k for k, _, _ in selectors.QUOTE_TABS}:
        tab = "pending"
    quotes = list(selectors.quote_list(workspace=ws, tab=tab))
    waiting = selectors.waiting_orders(workspace=ws, quotes=quotes)
    for qt in quotes:
        qt.waiting_order_ids = waiting.get(qt.pk, [])
        qt.line_list = list(qt.lines.all())
        for ln in qt.line_list:
            ln.tier_list = calc.tiers_from_json(ln.tiers)
        dates = [ln.valid_until for ln in qt.line_list if ln.valid_until]
        qt.valid_until = min(dates) if dates else None
    counts = selectors.quote_tab_counts(workspace=ws)
    tabs = [{"key": k, "label": label, "count": counts.get(k, 0), "active": k == tab}
            for k, label, _ in selectors.QUOTE_TABS]
    return render(request, "quotes/list.html", {
        "section": "quotes", "quotes": quotes, "tabs": tabs, "tab": tab,
        "decline_form": DeclineForm(), "variant_choices": selectors.variant_choices(workspace=ws),
        "statuses": QuoteStatus, "open_statuses": OPEN_QUOTE_STATUSES,
    })


def _back_to_quotes(request, tab="pending"):
    return redirect(reverse("quotes:list") + f"?tab={tab}")


@workspace_view
@require_POST
def quote_accept(request, quote_id: int):
    quote = services.quote_accept(workspace=request.workspace, quote_id=quote_id,
                                  by=request.user)
    messages.success(request, f"Quote for {quote.title} accepted: its waiting orders are "
                     "priced, and so will be every later order of this product.")
    return _back_to_quotes(request, "answered")


@workspace_view
@require_POST
def quote_decline(request, quote_id: int):
    if selectors.quote_get(workspace=request.workspace, quote_id=quote_id) is None:
        raise Http404("No such quote in this workspace.")
    form = DeclineForm(request.POST)
    if not form.is_valid():
        raise ValidationFailed("Say why you decline the quote (PodHub staff read it).")
    quote = services.quote_decline(workspace=request.workspace, quote_id=quote_id,
                                   by=request.user, **form.cleaned_data)
    messages.success(request, f"Quote for {quote.title} declined.")
    return _back_to_quotes(request, "declined")


@workspace_view
@require_POST
def quote_cancel_orders(request, quote_id: int):
    count = services.quote_cancel_waiting_orders(workspace=request.workspace,
                                                 quote_id=quote_id, by=request.user)
    messages.success(request, f"{count} waiting order{'s' if count != 1 else ''} cancelled.")
    return _back_to_quotes(request, "declined")


@workspace_view
@require_POST
def quote_rerequest(request, quote_id: int):
    quote = services.quote_rerequest(workspace=request.workspace, quote_id=quote_id,
                                     by=request.user, note=request.POST.get("note", "")[:500])
    messages.success(request, f"New quote requested for {quote.title}.")
    return _back_to_quotes(request)


@workspace_view
@require_POST
def quote_link(request, quote_id: int):
    links = {}
    for key, value in request.POST.items():
        if key.startswith("line_") and value:
            try:
                links[int(key.removeprefix("line_"))] = int(value)
            except ValueError:
                raise ValidationFailed("Pick a catalog product from the list.") from None
    quote = services.quote_link(workspace=request.workspace, quote_id=quote_id, links=links,
                                by=request.user)
    messages.success(request, f"{quote.title} linked to the catalog; its waiting orders are "
                     "re-checked.")
    return _back_to_quotes(request, "answered" if quote.status == QuoteStatus.LINKED
                           else "pending")


# --- the order page's price panel -----------------------------------------------------------


@workspace_view
@require_GET
def order_price(request, order_id: int):
    """htmx partial: the itemised price of one order (frozen once paid)."""
    ws = request.workspace
    order = selectors.order_for_price(workspace=ws, order_id=order_id)
    if order is None:
        raise Http404("No such order in this workspace.")
    snapshot = selectors.order_price_snapshot(workspace=ws, order=order)
    context = {"order": order, "snapshot": snapshot}
    if snapshot is None:
        method = request.GET.get("shipping_method", "")[:40] or None
        bd = pricing.price_order(order=order, shipping_method=method)
        context.update({"bd": bd, "method": method})
    return render(request, "quotes/_order_price.html", context)


# --- made-to-order checkout (quotes/checkout.py) ----------------------------------------------


def _posted_stamps(post) -> dict[int, str]:
    out = {}
    for key, value in post.items():
        if key.startswith("stamps-") and key[7:].isdigit():
            out[int(key[7:])] = value
    return out


def _checkout_form(request):
    return CatalogOrderForm(request.POST or None,
                            variants=selectors.variant_choices(workspace=request.workspace))


def _field_errors(form, exc: ValidationFailed) -> list[str]:
    """A service's refusal on the form: per field where the form has it, else listed."""
    shown = []
    for name, reason in (exc.detail.get("fields") or {"": exc.message}).items():
        field = name.replace("shipping_address.", "address_")
        m = re.fullmatch(r"lines\.(\d+)\.(\w+)", name)
        if m:
            field = f"line_{m.group(1)}_{m.group(2)}"
        if field in form.fields:
            form.add_error(field, reason)
        else:
            shown.append(reason)
    return shown


@workspace_view
def catalog_order(request):
    """"New order from the catalog": items with their tier prices live, addresses, then a
    review of the specifications to confirm; placed, it waits to be paid."""
    ws = request.workspace
    form = _checkout_form(request)
    ctx = {"section": "catalog", "form": form, "launch": ws.launch_catalog_orders}
    if request.method != "POST":
        return render(request, "quotes/checkout.html", ctx)
    step = request.POST.get("step", "review")
    stamps = _posted_stamps(request.POST)
    if not form.is_valid():
        ctx["draft"] = _draft_or_none(request, form, stamps)
        return render(request, "quotes/checkout.html", ctx, status=400)
    shipping, billing = form.addresses()
    try:
        draft = checkout.checkout_draft(workspace=ws, lines=form.lines(),
                                        country_code=shipping["country_code"], stamps=stamps)
    except ValidationFailed as exc:
        ctx["errors"] = _field_errors(form, exc)
        return render(request, "quotes/checkout.html", ctx, status=400)
    ctx.update(draft=draft, shipping=shipping, billing=billing)
    if step == "edit":
        return render(request, "quotes/checkout.html", ctx)
    if step == "place":
        try:
            order = checkout.catalog_order_place(
                workspace=ws, by=request.membership, lines=form.lines(),
                shipping_address=shipping, billing_address=billing, stamps=stamps,
                confirmed=request.POST.get("confirm") == "yes")
        except ValidationFailed as exc:
            ctx["errors"] = [str(r) for r in (exc.detail.get("fields") or {}).values()] \
                or [exc.message]
            return render(request, "quotes/checkout_review.html", ctx, status=400)
        messages.success(request, f"Order {order.number} is placed. We e-mailed you its "
                                  "specifications; design each item from Print files below "
                                  "(its design editor), then pay it to send it to production.")
        return redirect("orders:detail", order_id=order.pk)
    return render(request, "quotes/checkout_review.html", ctx)


def _draft_or_none(request, form, stamps):
    """The live price of the items that are filled in, whatever else is missing."""
    lines = form.lines()
    if not lines:
        return None
    country = getattr(form, "cleaned_data", {}).get("address_country_code", "")
    try:
        return checkout.checkout_draft(workspace=request.workspace, lines=lines,
                                       country_code=country, stamps=stamps)
    except ValidationFailed:
        return None


@workspace_view
@require_POST
def catalog_order_price(request):
    """htmx: the checkout's price as items, quantities or the country change."""
    form = _checkout_form(request)
    form.is_valid()  # the items may be fine while the address is still empty
    return render(request, "quotes/_checkout_price.html", {
        "draft": _draft_or_none(request, form, _posted_stamps(request.POST))})
