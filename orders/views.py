"""The seller's order dashboard: the list with tabs, the order page, entry and import.

Views parse input, call orders/services/ to change things and
orders/selectors.py to read them, and render. htmx requests on the list get
only the list (plus the tabs, out of band); everything also works without JS.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from orders import csv_import, csv_jobs, hooks, inputs, panels, selectors, services
from orders.events import Actor
from orders.forms import (
    CancelForm,
    CsvImportForm,
    ManualOrderForm,
    OrderEditForm,
    OrderFilterForm,
    address_from,
)
from orders.models import CancelReason, Order, Platform
from orders.urlcache import const_url, id_url
from podhub.core.exceptions import Conflict, NotFound, PodhubError, ValidationFailed
from podhub.core.uploads import upload_limit
from podhub.core.views import redirect_local, workspace_view

FILTER_KEYS = ("q", "store", "date_from", "date_to")
PAGE_KEYS = ("per_page", "after")
MAX_BULK = 500


# --- the list -----------------------------------------------------------------------


def _query(values: dict, **override) -> str:
    """The list's query string for these filter values (empty ones left out)."""
    merged = {**values, **override}
    params = []
    for key in ("state", *FILTER_KEYS, *PAGE_KEYS):
        value = merged.get(key)
        if value in (None, "") or (key == "state" and value == selectors.ALL_TAB):
            continue
        params.append((key, value.isoformat() if hasattr(value, "isoformat") else value))
    return urlencode(params)


def _url(values: dict, *, base: str = "", **override) -> str:
    query = _query(values, **override)
    return (base or const_url("orders:list")) + (f"?{query}" if query else "")


def _tabs(workspace, values: dict) -> list[dict]:
    counts = selectors.tab_counts(workspace=workspace)
    tabs = [(selectors.ALL_TAB, "All")] + selectors.TABS
    base = const_url("orders:list")
    return [
        {"key": key, "label": label, "count": counts.get(key, 0),
         "url": _url(values, base=base, state=key, after=None), "active": values["state"] == key}
        for key, label in tabs
    ]


def _list_context(request) -> dict:
    values = OrderFilterForm.parse(request.GET)
    page = selectors.order_list(
        workspace=request.workspace, state=values["state"], q=values["q"],
        store_id=values["store"], date_from=values["date_from"], date_to=values["date_to"],
        after=values["after"], limit=values["per_page"] or selectors.PAGE_SIZE,
    )
    # No reverse() per row (a hot path: 50-200 rows), nor per page.
    pattern = id_url("orders:detail", "order_id")
    for row in page.rows:
        row.url = pattern.format(row.id)
    return {
        "section": "orders",
        "values": values,
        "page": page,
        "tabs": _tabs(request.workspace, values),
        "current_url": _url(values),
        "query": _query(values),
        "next_url": _url(values, after=page.next_cursor) if page.next_cursor else None,
        "first_url": None if page.is_first else _url(values, after=None),
        "filtered": any(values.get(k) for k in FILTER_KEYS),
        "bulk_actions": panels.bulk_actions(),
    }


@workspace_view
def order_list(request):
    context = _list_context(request)
    if request.htmx and not request.htmx.history_restore_request:
        # Only the list is swapped; the tabs follow out of band (counts, active tab).
        # A fragment needs no page-level context processors (nav, workspace switcher):
        # rendered without them it costs one query less. The bulk form's CSRF token is
        # the one thing it takes from the request.
        context["csrf_token"] = get_token(request)
        response = HttpResponse(render_to_string("orders/_list_response.html", context))
        # The address bar gets the canonical URL (no empty or default parameters).
        response["HX-Push-Url"] = context["current_url"]
    else:
        context["stores"] = selectors.store_options(workspace=request.workspace)
        context["per_page_choices"] = (10, 25, 50, 100, 200)
        response = render(request, "orders/list.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@workspace_view
def tab_counts(request):
    """The tabs with fresh counts (polled by the list every 30 s)."""
    values = OrderFilterForm.parse(request.GET)
    return render(request, "orders/_tabs.html", {"tabs": _tabs(request.workspace, values),
                                                 "query": _query(values)})


def _parse_ids(raw: list[str]) -> list[int]:
    ids = []
    for value in raw:
        if value.isdigit() and int(value) > 0:
            ids.append(int(value))
    return list(dict.fromkeys(ids))[:MAX_BULK]


@workspace_view
@require_POST
def bulk_cancel(request):
    ids = selected_ids(request, what="cancel")
    form = CancelForm(request.POST)
    valid = form.is_valid()
    result = services.order_bulk_cancel(
        workspace=request.workspace, order_ids=ids, actor=Actor.seller(request.user),
        note=form.cleaned_data["note"] if valid else "",
        cancel_in_store=valid and form.cleaned_data["cancel_in_store"])
    return bulk_response(request, ids, result, title="Cancel selected", verb="cancelled",
                         done_label="Cancelled")


def bulk_response(request, ids: list[int], result, *, title: str, verb: str, done_label: str):
    """What a bulk action on the list answers: a result card for htmx (and the list
    refreshes), else messages and back to the list."""
    numbers = dict(
        Order.objects.filter(workspace=request.workspace, pk__in=ids).values_list("pk", "number")
    )
    done = [{"id": i, "number": numbers.get(i, f"#{i}")} for i in result.done]
    failed = [{"id": i, "number": numbers.get(i, f"#{i}"), "message": message}
              for i, message in result.failed]
    if not request.htmx:
        if done:
            messages.success(request, f"{done_label} {len(done)} order(s): "
                             + ", ".join(d["number"] for d in done) + ".")
        for f in failed:
            messages.error(request, f"{f['number']}: {f['message']}")
        return redirect_local(request, request.POST.get("next"),
                              fallback=const_url("orders:list"))
    response = render(request, "orders/_bulk_result.html", {
        "done": done, "failed": failed, "title": title, "verb": verb, "done_label": done_label})
    response["HX-Trigger"] = "ordersChanged"
    return response


def selected_ids(request, *, what: str) -> list[int]:
    """The list's selection (`order_ids`), or a clear error when there is none."""
    ids = _parse_ids(request.POST.getlist("order_ids"))
    if not ids:
        raise ValidationFailed(f"Select at least one order to {what}.")
    return ids


# --- one order -------------------------------------------------------------------------


def _detail_context(request, order_id: int, **extra) -> dict:
    detail = selectors.order_get(workspace=request.workspace, order_id=order_id)
    return {"section": "orders", "detail": detail, "order": detail.order,
            "cancel_form": CancelForm(), **extra}


@workspace_view
def order_detail(request, order_id: int):
    return render(request, "orders/detail.html", _detail_context(request, order_id))


def _require_order(request, order_id: int) -> Order:
    order = Order.objects.filter(workspace=request.workspace, pk=order_id).only(
        "id", "number", "workspace_id").first()
    if order is None:
        raise NotFound("No such order in this workspace.")
    return order


@workspace_view
@require_POST
def order_cancel(request, order_id: int):
    order = _require_order(request, order_id)
    form = CancelForm(request.POST)
    valid = form.is_valid()
    in_store = valid and form.cleaned_data["cancel_in_store"]
    services.order_cancel(order_id=order.pk, reason=CancelReason.SELLER,
                          actor=Actor.seller(request.user),
                          note=form.cleaned_data["note"] if valid else "",
                          cancel_in_store=in_store)
    messages.success(request, f"Order {order.number} was cancelled."
                     + (" PodHub is cancelling it in your store and refunding the buyer."
                        if in_store and hooks.store_takes_cancels(order) else ""))
    return redirect("orders:detail", order_id=order.pk)


def _personalization_from(post, lines) -> dict[int, list[dict]]:
    """p-<line>-<n>-key / -value pairs -> {line_id: [{"key", "value"}, ...]}."""
    found: dict[int, list[dict]] = {}
    for line in lines:
        pairs = []
        n = 0
        while f"p-{line.pk}-{n}-key" in post or f"p-{line.pk}-{n}-value" in post:
            key = post.get(f"p-{line.pk}-{n}-key", "").strip()[:100]
            value = post.get(f"p-{line.pk}-{n}-value", "").strip()[:1000]
            if key or value:
                pairs.append({"key": key, "value": value})
            n += 1
        found[line.pk] = pairs
    return found


def _edit_rows(lines, posted: dict[int, list[dict]] | None = None) -> list[dict]:
    rows = []
    for line in lines:
        pairs = posted.get(line.pk) if posted is not None else None
        if pairs is None:
            pairs = [{"key": p.get("key", ""), "value": inputs.display_value(p.get("value"))}
                     for p in (line.personalization or [])]
        rows.append({"line": line, "pairs": [*pairs, {"key": "", "value": ""}]})
    return rows


@workspace_view
def order_edit(request, order_id: int):
    """Edit buyer, address and personalisation; answers a staff request for information."""
    detail = selectors.order_get(workspace=request.workspace, order_id=order_id)
    order = detail.order
    if detail.is_locked:
        if request.method == "POST":
            raise services.OrderLocked(_locked_reason(order))
        return render(request, "orders/edit.html", {
            "section": "orders", "detail": detail, "order": order,
            "locked_reason": _locked_reason(order)})
    form = OrderEditForm(request.POST or None, initial=OrderEditForm.initial_for(order))
    posted = None
    if request.method == "POST":
        posted = _personalization_from(request.POST, detail.lines)
        if form.is_valid():
            skus = {line.pk: request.POST[f"sku-{line.pk}"].strip()[:128]
                    for line in detail.lines if f"sku-{line.pk}" in request.POST
                    and not line.catalog_variant_id}
            changes = _changes(order, detail.lines, form.cleaned_data, posted, skus)
            if not changes:
                messages.info(request, "Nothing changed.")
                return redirect("orders:detail", order_id=order.pk)
            try:
                services.order_edit(order_id=order.pk, actor=Actor.seller(request.user),
                                    changes=changes)
            except ValidationFailed as exc:
                for error in _form_errors(form, exc):
                    form.add_error(None, error)
            else:
                messages.success(request, f"Order {order.number} was updated.")
                return redirect("orders:detail", order_id=order.pk)
    return render(request, "orders/edit.html", {
        "section": "orders", "detail": detail, "order": order, "form": form,
        "rows": _edit_rows(detail.lines, posted),
    }, status=400 if request.method == "POST" else 200)


def _form_errors(form, exc: PodhubError) -> list[str]:
    """Put a service's field errors on the form's fields; return the rest as sentences."""
    rest = []
    fields = exc.detail.get("fields") or {}
    for name, error in fields.items():
        field = "address_" + name.split(".", 1)[1] if name.startswith("shipping_address.") \
            else name
        if field in form.fields:
            form.add_error(field, error)
        else:
            rest.append(f"{inputs.field_label(name)}: {error}")
    return rest or [exc.message]


def _locked_reason(order: Order) -> str:
    return (f"Order {order.number} is {order.get_state_display().lower()}: it was submitted "
            "to production and can no longer be edited.")


def _changes(order: Order, lines, cleaned: dict, posted: dict[int, list[dict]],
             skus: dict[int, str]) -> dict:
    changes: dict = {}
    for name in ("buyer_name", "buyer_email"):
        if cleaned[name] != getattr(order, name):
            changes[name] = cleaned[name]
    # Only the keys the form edits: the service keeps the order's other keys.
    address = address_from(cleaned)
    current = order.shipping_address or {}
    if any((current.get(k) or "") != v for k, v in address.items()):
        changes["shipping_address"] = address
    line_changes = {}
    for line in lines:
        before = [{"key": p.get("key", ""), "value": inputs.display_value(p.get("value"))}
                  for p in (line.personalization or [])]
        after = posted.get(line.pk, [])
        if after != before:
            line_changes[line.pk] = {"personalization": after}
        sku = skus.get(line.pk)
        if sku is not None and sku != line.sku:
            line_changes.setdefault(line.pk, {})["sku"] = sku
    if line_changes:
        changes["lines"] = line_changes
    return changes


# --- orders from outside sources ------------------------------------------------------

MANUAL_LINES = 5


def _manual_lines(post) -> tuple[list[dict], list[str]]:
    """line-<n>-sku/title/quantity/price/personalization rows; blank rows are skipped."""
    lines, errors = [], []
    for n in range(int(post.get("line_rows", MANUAL_LINES) or MANUAL_LINES)):
        get = lambda f, n=n: post.get(f"line-{n}-{f}", "").strip()  # noqa: E731
        if not any(get(f) for f in ("sku", "title", "quantity", "price", "personalization")):
            continue
        personalization = []
        for raw in get("personalization").splitlines():
            key, sep, value = raw.partition(":")
            if raw.strip():
                personalization.append({"key": key.strip() if sep else "",
                                        "value": value.strip() if sep else raw.strip()})
        lines.append({"sku": get("sku"), "title": get("title"),
                      "quantity": get("quantity") or "1", "unit_price": get("price"),
                      "personalization": personalization})
    if not lines:
        errors.append("Add at least one line item.")
    return lines, errors


def _outside_stores(request) -> list:
    """Stores that take orders typed in or imported by the seller (platform manual)."""
    return [s for s in selectors.store_choices(workspace=request.workspace)
            if s.platform == Platform.MANUAL]


def _store(stores, store_id: int | None):
    if not store_id:
        return None  # the service uses the workspace's default outside store
    for store in stores:
        if store.pk == store_id:
            return store
    raise NotFound("No such store in this workspace.")


@workspace_view
def order_create(request):
    stores = _outside_stores(request)
    form = ManualOrderForm(request.POST or None, stores=stores)
    line_errors: list[str] = []
    status = 200
    if request.method == "POST":
        lines, line_errors = _manual_lines(request.POST)
        if form.is_valid() and not line_errors:
            c = form.cleaned_data
            data = {
                "number": c["number"], "buyer_name": c["buyer_name"],
                "buyer_email": c["buyer_email"], "currency": c["currency"].upper(),
                "shipping_address": address_from(c), "line_items": lines,
            }
            if c["channel"]:
                data["channel"] = c["channel"]
            try:
                order = services.order_create_manual(
                    workspace=request.workspace, data=data, actor=Actor.seller(request.user),
                    store=_store(stores, c["store"]),
                )
            except (ValidationFailed, Conflict) as exc:
                line_errors += _form_errors(form, exc)
            else:
                messages.success(request, f"Order {order.number} was created.")
                return redirect("orders:detail", order_id=order.pk)
        status = 400
    return render(request, "orders/create.html", {
        "section": "orders", "form": form, "line_errors": line_errors,
        "line_rows": [_posted_line(request.POST, n) for n in range(MANUAL_LINES)],
    }, status=status)


def _posted_line(post, n: int) -> dict:
    return {"n": n, **{f: post.get(f"line-{n}-{f}", "")
                       for f in ("sku", "title", "quantity", "price", "personalization")}}


@upload_limit(csv_import.MAX_BODY_BYTES)
@workspace_view
def order_import(request):
    """Upload a CSV: the file is checked and kept, its import runs as a job (progress page)."""
    stores = _outside_stores(request)
    form = CsvImportForm(request.POST or None, request.FILES or None, stores=stores)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                job = csv_jobs.csv_import_start(
                    workspace=request.workspace, file=form.cleaned_data["file"],
                    actor=Actor.seller(request.user),
                    store=_store(stores, form.cleaned_data["store"]),
                )
            except ValidationFailed as exc:  # the file as a whole: size, encoding, columns
                form.add_error("file", exc.message)
                status = 400
            else:
                return redirect("orders:import_detail", import_id=job.pk)
        else:
            status = 400
    return render(request, "orders/import.html", {
        "section": "orders", "form": form, "columns": _csv_columns(),
        "recent": selectors.csv_import_recent(workspace=request.workspace),
    }, status=status)


@workspace_view
def import_detail(request, import_id: int):
    """An import's progress: polled with htmx until done; then what was created or rejected."""
    view = selectors.csv_import_detail(workspace=request.workspace, import_id=import_id)
    context = {"section": "orders", "imp": view}
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "orders/_import_progress.html", context)
    return render(request, "orders/import_detail.html", context)


def _csv_columns() -> list[dict]:
    required = set(csv_import.REQUIRED_COLUMNS)
    names = ["order_number", *csv_import.ORDER_COLUMNS, *csv_import.LINE_COLUMNS]
    return [{"name": n, "required": n in required,
             "per": "line item" if n in csv_import.LINE_COLUMNS else "order"} for n in names]
