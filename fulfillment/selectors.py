"""Reads for the fulfillment panel, the packing sheet and the claim thread;
each filters by workspace explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

from fulfillment.models import (
    Adapter,
    Claim,
    ClaimKind,
    ClaimMessage,
    Shipment,
    Submission,
    SubmissionStatus,
)
from fulfillment.provider_cancel import CancelOffer, cancel_offer
from orders.models import LineItem, Order, OrderState
from podhub.core.exceptions import NotFound


@dataclass
class ShipmentRow:
    shipment: Shipment
    provider_name: str
    adapter: str
    lines: list[tuple[LineItem, int]] = field(default_factory=list)
    events: list = field(default_factory=list)

    @property
    def can_enter_tracking(self) -> bool:
        return self.adapter == Adapter.MANUAL and not self.shipment.is_shipped


@dataclass
class FulfillmentPanel:
    order: Order
    submissions: list[Submission]
    shipments: list[ShipmentRow]
    claims: list[Claim]
    claim_kinds: list = field(default_factory=lambda: ClaimKind.choices)
    #: "Cancel at <provider>" (docs/store-truth.md "Cancel at the provider"), or None
    cancel_offer: CancelOffer | None = None

    @property
    def can_submit(self) -> bool:
        return self.order.state == OrderState.AWAITING_SUBMISSION

    @property
    def is_outside(self) -> bool:
        return not self.order.store.auto_submits or not self.order.auto_submit

    @property
    def has_manual(self) -> bool:
        return any(s.adapter == Adapter.MANUAL for s in self.submissions)

    @property
    def parcels_shipped(self) -> int:
        return sum(1 for row in self.shipments if row.shipment.is_shipped)

    @property
    def parcels_progress(self) -> str:
        """"1 of 2 parcels shipped" while an order ships parcel by parcel."""
        total, shipped = len(self.shipments), self.parcels_shipped
        if total < 2 or not shipped:
            return ""
        if shipped == total:
            return f"All {total} parcels shipped"
        return f"{shipped} of {total} parcels shipped"

    @property
    def can_claim(self) -> bool:
        return self.order.state in (OrderState.SHIPPED, OrderState.COMPLETED)


def order_get(*, workspace, order_id: int) -> Order:
    order = Order.objects.filter(workspace=workspace, pk=order_id).select_related(
        "store").first()
    if order is None:
        raise NotFound("No such order in this workspace.")
    return order


def fulfillment_panel(*, workspace, order_id: int) -> FulfillmentPanel:
    order = order_get(workspace=workspace, order_id=order_id)
    lines = {ln.pk: ln for ln in LineItem.objects.filter(order=order, workspace=workspace)}
    subs = list(Submission.objects.filter(order=order, workspace=workspace)
                .select_related("provider").order_by("pk"))
    by_sub = {s.pk: s for s in subs}
    rows = []
    for shipment in (Shipment.objects.filter(order=order, workspace=workspace)
                     .prefetch_related("events").order_by("pk")):
        sub = by_sub.get(shipment.submission_id)
        if sub is not None and sub.status in (SubmissionStatus.FAILED,
                                              SubmissionStatus.CANCELLED):
            continue
        rows.append(ShipmentRow(
            shipment=shipment, provider_name=sub.provider.name if sub else "",
            adapter=sub.adapter if sub else "",
            lines=[(lines[i["line_item_id"]], i["quantity"]) for i in shipment.items
                   if i.get("line_item_id") in lines],
            events=list(shipment.events.all())))
    claims = list(Claim.objects.filter(order=order, workspace=workspace)
                  .prefetch_related("messages"))
    return FulfillmentPanel(order=order, submissions=subs, shipments=rows, claims=claims,
                            cancel_offer=cancel_offer(order=order))


@dataclass
class PackingSheet:
    order: Order
    lines: list[LineItem]
    submissions: list[Submission]


def packing_sheet(*, workspace, order_id: int) -> PackingSheet:
    order = order_get(workspace=workspace, order_id=order_id)
    return PackingSheet(
        order=order,
        lines=list(LineItem.objects.filter(order=order, workspace=workspace).order_by("pk")),
        submissions=list(Submission.objects.filter(order=order, workspace=workspace)
                         .exclude(status=SubmissionStatus.FAILED).select_related("provider")))


def claim_message_get(*, workspace, claim_message_id: int) -> ClaimMessage:
    msg = ClaimMessage.objects.filter(workspace=workspace, pk=claim_message_id).first()
    if msg is None or not msg.photo:
        raise NotFound("No such photo.")
    return msg


def claim_get(*, workspace, order_id: int, claim_id: int) -> Claim:
    claim = Claim.objects.filter(workspace=workspace, order_id=order_id, pk=claim_id).first()
    if claim is None:
        raise NotFound("No such claim in this workspace.")
    return claim


def home_figures(*, workspace, now) -> dict[str, tuple[str, list]]:
    """Fulfillment's part of Home (read by insights.home with the others in one query):
    "fulfillment.late", n orders at a provider past their production target — the
    production board's "Late" (Submission.is_late), on the index submission_ws_open_due."""
    at = connection.ops.adapt_datetimefield_value(now)
    open_ = "', '".join([SubmissionStatus.ACCEPTED.value, SubmissionStatus.IN_PRODUCTION.value])
    sql = (
        "SELECT COUNT(DISTINCT order_id) AS n, CAST(NULL AS text) AS s1, "  # noqa: S608
        f"CAST(NULL AS text) AS s2, CAST(NULL AS timestamp) AS t FROM {Submission._meta.db_table} "
        f"WHERE workspace_id = %s AND status IN ('{open_}') AND due_at < %s")
    return {"fulfillment.late": (sql, [workspace.pk, at])}
