"""Seller views of issue 7: the fulfillment panel on the order page (htmx:
countdown, Submit now, shipments with tracking, manual tracking entry, claims),
the packing sheet, and the provider webhook endpoint."""

import json
import logging

from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from fulfillment import claims, provider_cancel, selectors, shipments, submission
from fulfillment.providers.base import WEBHOOK_TOKEN_HEADER
from orders.events import Actor
from podhub.core.uploads import upload_limit
from podhub.core.views import redirect_local, workspace_view

log = logging.getLogger(__name__)


def _panel(request, order_id: int, *, notice: str = "", status: int = 200):
    panel = selectors.fulfillment_panel(workspace=request.workspace, order_id=order_id)
    membership = request.membership
    return render(request, "fulfillment/fulfillment_panel.html",
                  {"panel": panel, "order": panel.order, "notice": notice,
                   "can_manage": membership is not None and membership.can_manage},
                  status=status)


def _done(request, order_id: int, notice: str, *, whole_page: bool = False):
    """After an action in the panel: the panel again with the notice (htmx), or, when the
    action changed more than the panel (the order's state, its Actions), the whole order
    page with the notice on top."""
    if request.htmx and not whole_page:
        return _panel(request, order_id, notice=notice)
    messages.success(request, notice)
    return redirect_local(request, None,
                          fallback=reverse("orders:detail", args=[order_id]) + "#fulfillment")


def claim_step(order):
    """After shipping, the order page offers a claim (the form opens in the production
    panel: data-open-details, static/js/podhub.js)."""
    from orders.panels import NextStep

    if order.state not in claims.CLAIMABLE:
        return None
    return NextStep(label="Something wrong? Open a claim", testid="next-claim",
                    url="#claim-open", open_details="claim-open")


def submit_step(order):
    """The order page's next step while the countdown runs (orders/panels.py)."""
    from orders.panels import NextStep

    if order.state != "awaiting_submission":
        return None
    return NextStep(label="Submit now", testid="next-submit", method="post",
                    url=reverse("fulfillment:submit_now", args=[order.pk]),
                    confirm=f"Submit order {order.number} to production now? It can no "
                    "longer be edited afterwards.")


@workspace_view
@require_GET
def panel(request, order_id: int):
    return _panel(request, order_id)


@workspace_view
@require_POST
def submit_now(request, order_id: int):
    submission.order_submit_now(workspace=request.workspace, order_id=order_id,
                                actor=Actor.seller(request.user))
    return _done(request, order_id, "Submitted to production.", whole_page=True)


@workspace_view
@require_POST
def cancel_at_provider(request, order_id: int):
    """"Cancel at <provider>" on a flagged order (docs/store-truth.md "Cancel at the
    provider"); a refusal comes back as the provider's reason (409)."""
    order = provider_cancel.submission_cancel_at_provider(
        order_id=order_id, workspace=request.workspace, actor=Actor.seller(request.user))
    messages.success(request, f"Order {order.number} was cancelled at the provider; what "
                     "was paid for it is back on your balance.")
    return redirect_local(request, None, fallback=reverse("orders:detail", args=[order.pk]))


@workspace_view
@require_POST
def bulk_submit(request):
    """"Submit now" for the orders selected on the list (paid ones go to production
    at once, whatever their countdown says; the others are listed with the reason)."""
    from orders.views import bulk_response, selected_ids

    ids = selected_ids(request, what="submit")
    result = submission.orders_submit_now(workspace=request.workspace, order_ids=ids,
                                          actor=Actor.seller(request.user))
    return bulk_response(request, ids, result, title="Submit now", verb="submitted",
                         done_label="Submitted")


@workspace_view
@require_POST
def enter_tracking(request, order_id: int, shipment_id: int):
    selectors.order_get(workspace=request.workspace, order_id=order_id)  # 404 before 400
    shipments.shipment_enter_tracking(
        workspace=request.workspace, order_id=order_id, shipment_id=shipment_id,
        carrier=request.POST.get("carrier", ""), number=request.POST.get("number", ""),
        url=request.POST.get("url", ""), actor=Actor.seller(request.user))
    # the whole page: the parcel's tracking can ship the order (its state, Actions, timeline)
    return _done(request, order_id, "Tracking saved; it goes to the store.", whole_page=True)


@workspace_view
@require_GET
def packing_sheet(request, order_id: int):
    sheet = selectors.packing_sheet(workspace=request.workspace, order_id=order_id)
    return render(request, "fulfillment/packing_sheet.html", {"sheet": sheet})


@upload_limit(claims.MAX_CLAIM_BODY)
@workspace_view
@require_POST
def claim_open(request, order_id: int):
    selectors.order_get(workspace=request.workspace, order_id=order_id)
    claims.claim_open(workspace=request.workspace, order_id=order_id,
                      kind=request.POST.get("kind", ""), message=request.POST.get("message", ""),
                      photos=request.FILES.getlist("photos"), user=request.user)
    return _done(request, order_id, "Claim opened: staff will answer here.", whole_page=True)


@upload_limit(claims.MAX_CLAIM_BODY)
@workspace_view
@require_POST
def claim_reply(request, order_id: int, claim_id: int):
    selectors.claim_get(workspace=request.workspace, order_id=order_id, claim_id=claim_id)
    claims.claim_reply(workspace=request.workspace, order_id=order_id, claim_id=claim_id,
                       message=request.POST.get("message", ""),
                       photos=request.FILES.getlist("photos"), user=request.user)
    return _done(request, order_id, "Message sent.")


@workspace_view
@require_GET
def claim_photo(request, claim_message_id: int):
    msg = selectors.claim_message_get(workspace=request.workspace,
                                      claim_message_id=claim_message_id)
    return claims.photo_response(msg)


@csrf_exempt
@require_POST
def provider_webhook(request, provider_code: str):
    """Verified (401 otherwise), stored before the 200, applied once, forward only."""
    headers = dict(request.headers)
    if request.GET.get("token"):
        # Providers that cannot send a custom header (Gelato's dashboard) put the
        # shared token in the webhook URL instead.
        headers.setdefault(WEBHOOK_TOKEN_HEADER, request.GET["token"])
    try:
        row, created = shipments.webhook_receive(
            provider_code=provider_code, headers=headers, body=request.body)
    except shipments.WebhookRejected as exc:
        return JsonResponse({"error": {"code": "rejected", "message": exc.reason}},
                            status=exc.status)
    if not created:
        return JsonResponse({"ok": True, "duplicate": True})
    try:
        result = shipments.webhook_process(webhook_id=row.pk)
    except Exception:  # stored: the sweep retries; the provider must not
        log.exception("provider webhook %s: processing failed", row.pk)
        result = "failed"
    return HttpResponse(json.dumps({"ok": True, "result": result}),
                        content_type="application/json")
