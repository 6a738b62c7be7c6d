"""The seller's order API under /api/v1/: one APIView per operation.

Errors share one body, `{"error": {"code", "message", ...}}`: 400 `invalid`
with `fields` (field -> reason), 401, 404 `not_found` for another workspace's
order, 409 `illegal_transition` with `current_state` (or `order_locked`).
"""

import contextlib

from django.db.models import Prefetch
from django.http import QueryDict
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from orders import csv_import, csv_jobs, hooks, selectors, services
from orders.events import Actor
from orders.models import (
    CancelReason,
    CsvImportStatus,
    LineItem,
    Order,
    OrderEvent,
    OrderState,
    Store,
)
from orders.serializers import (
    AddressSerializer,
    ErrorSerializer,
    OrderDetailOutputSerializer,
    OrderOutputSerializer,
)
from podhub.core.api import IdField, WorkspaceApi, parse_id
from podhub.core.exceptions import NotFound, ValidationFailed
from podhub.core.parsers import JSONParser

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; `fields` says why."),
    401: OpenApiResponse(ErrorSerializer, description="Missing or bad token."),
    404: OpenApiResponse(ErrorSerializer, description="No such order in this workspace."),
    409: OpenApiResponse(ErrorSerializer, description="Not possible in the order's state; "
                         "`current_state` names it."),
}


def _orders_with_lines(workspace, ids: list[int]) -> list[Order]:
    """Full orders (store, lines) for the ids, in the order given: two queries."""
    found = {
        o.pk: o
        for o in Order.objects.filter(workspace=workspace, pk__in=ids)
        .select_related("store")
        .prefetch_related(Prefetch("line_items", queryset=LineItem.objects.order_by("id")))
    }
    return [found[i] for i in ids if i in found]


def _order_detail(workspace, order_id: int) -> Order:
    order = (
        Order.objects.filter(workspace=workspace, pk=order_id)
        .select_related("store")
        .prefetch_related(
            Prefetch("line_items", queryset=LineItem.objects.order_by("id")),
            Prefetch("events", queryset=OrderEvent.objects.order_by("created_at", "id")),
        )
        .first()
    )
    if order is None:
        raise NotFound("No such order in this workspace.")
    return order


def _store(workspace, value) -> Store | None:
    if value in (None, ""):
        return None
    store_id = parse_id(value, field="store", what="store")
    store = Store.objects.filter(workspace=workspace, pk=store_id).first()
    if store is None:
        raise ValidationFailed("No such store in this workspace.",
                               fields={"store": "No such store in this workspace."})
    return store


def _check_catalog_variants(workspace, data: dict) -> None:
    """A line may name its catalog variant, but only one the workspace may use (a
    public one, or one made for it): never another workspace's custom product, nor
    one that does not exist. Other problems with the value are orders/inputs.py's."""
    lines = data.get("line_items")
    named = {}
    for i, line in enumerate(lines if isinstance(lines, list) else []):
        raw = line.get("catalog_variant_id") if isinstance(line, dict) else None
        field = f"line_items.{i}.catalog_variant_id"
        if raw not in (None, ""):
            with contextlib.suppress(ValidationFailed):
                named[field] = parse_id(raw, field=field, what="catalog variant")
    usable = hooks.usable_variant_ids(workspace, set(named.values()))
    wrong = {field: "No such catalog variant: use a public one or one made for you."
             for field, pk in named.items() if pk not in usable}
    if wrong:
        raise ValidationFailed(f"{next(iter(wrong))}: no such catalog variant.", fields=wrong)


# --- list and manual entry -------------------------------------------------------------


class PersonalizationInputSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=100)
    value = serializers.CharField(max_length=2000, allow_blank=True)


class LineItemInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=128)
    title = serializers.CharField(max_length=255, required=False,
                                  help_text="Defaults to the SKU.")
    variant_title = serializers.CharField(max_length=255, required=False)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000, default=1)
    unit_price = serializers.DecimalField(max_digits=15, decimal_places=3,
                                          coerce_to_string=True,
                                          help_text="Selling price per unit, e.g. \"12.50\".")
    discount = serializers.DecimalField(max_digits=15, decimal_places=3, required=False,
                                        help_text="Amount off this line in total.")
    personalization = PersonalizationInputSerializer(many=True, required=False)
    images = serializers.ListField(child=serializers.URLField(), required=False,
                                   help_text="Image URLs the buyer supplied.")
    catalog_variant_id = IdField(required=False, allow_null=True, help_text=(
        "The catalog variant the item is, when known: a public one or one made for the "
        "workspace (else 400). Default: mapped by SKU."))


class OrderListCreateApi(WorkspaceApi):
    """`GET`: the workspace's orders, newest first, keyset-paginated.
    `POST`: enter an order from an outside source (Etsy, Amazon, ...)."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    class FilterSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=OrderState.choices, required=False,
                                        help_text="One tab: the order status.")
        q = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                  help_text="Order number, buyer name, e-mail or SKU.")
        store = IdField(required=False)
        date_from = serializers.DateField(required=False, help_text="Placed on or after.")
        date_to = serializers.DateField(required=False, help_text="Placed on or before.")
        after = serializers.CharField(max_length=200, required=False,
                                      help_text="`next_cursor` of the previous page.")
        limit = serializers.IntegerField(min_value=1, max_value=selectors.MAX_PAGE_SIZE,
                                         default=selectors.PAGE_SIZE)

        def validate_after(self, value: str) -> str:
            if value and selectors.decode_cursor(value) is None:
                raise serializers.ValidationError("Not a cursor returned by this API.")
            return value

    class PageSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrderPage"

        results = OrderOutputSerializer(many=True)
        next_cursor = serializers.CharField(allow_null=True)

    class InputSerializer(serializers.Serializer):
        """The documented body of a manual order (validated by orders/inputs.py)."""

        class Meta:
            ref_name = "ManualOrderInput"

        store = IdField(required=False, help_text=(
            "An outside-source store of the workspace; default: the workspace's own "
            "'Outside orders' store."))
        channel = serializers.CharField(max_length=32, required=False,
                                        help_text="Where it was sold: etsy, amazon, ...")
        number = serializers.CharField(max_length=64, help_text="The order number there.")
        external_id = serializers.CharField(max_length=128, required=False,
                                            help_text="Defaults to the number.")
        placed_at = serializers.DateTimeField(required=False)
        buyer_name = serializers.CharField(max_length=200, required=False)
        buyer_email = serializers.EmailField(required=False)
        shipping_address = AddressSerializer(help_text=(
            "name, address1, city and country_code (ISO 3166 alpha-2) are required; "
            "zip for US addresses."))
        currency = serializers.CharField(max_length=3, required=False,
                                         help_text="ISO 4217; defaults to the store's.")
        shipping = serializers.DecimalField(max_digits=15, decimal_places=3, required=False)
        tax = serializers.DecimalField(max_digits=15, decimal_places=3, required=False)
        discount = serializers.DecimalField(max_digits=15, decimal_places=3, required=False,
                                            help_text="Order-level discount.")
        line_items = LineItemInputSerializer(many=True)

    @extend_schema(operation_id="orders_list", parameters=[FilterSerializer],
                   responses={200: PageSerializer, **ERRORS})
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        f = params.validated_data
        page = selectors.order_list(
            workspace=self.workspace, state=f.get("state"), q=f.get("q"),
            store_id=f.get("store"), date_from=f.get("date_from"), date_to=f.get("date_to"),
            after=f.get("after"), limit=f["limit"],
        )
        orders = _orders_with_lines(self.workspace, [row.id for row in page.rows])
        return Response({"results": OrderOutputSerializer(orders, many=True).data,
                         "next_cursor": page.next_cursor})

    @extend_schema(
        request=InputSerializer,
        responses={201: OrderDetailOutputSerializer, **ERRORS},
        examples=[OpenApiExample("Etsy order", request_only=True, value={
            "channel": "etsy", "number": "3141592653", "buyer_name": "Ana Lima",
            "buyer_email": "ana@example.com",
            "shipping_address": {"name": "Ana Lima", "address1": "1 Main St",
                                 "city": "Springfield", "province": "IL", "zip": "62701",
                                 "country_code": "US"},
            "currency": "USD",
            "line_items": [{"sku": "MUG-11-WHITE", "title": "Mug 11oz", "quantity": 2,
                            "unit_price": "14.50",
                            "personalization": [{"key": "Name", "value": "Ana"}]}],
        })],
    )
    def post(self, request):
        if not isinstance(request.data, dict) or isinstance(request.data, QueryDict):
            raise ValidationFailed("Send the order as a JSON object "
                                   "(Content-Type: application/json).")
        data = dict(request.data)
        store = _store(self.workspace, data.pop("store", None))
        _check_catalog_variants(self.workspace, data)
        order = services.order_create_manual(workspace=self.workspace, data=data,
                                             actor=Actor.seller(request.user), store=store)
        return Response(OrderDetailOutputSerializer(_order_detail(self.workspace, order.pk)).data,
                        status=status.HTTP_201_CREATED)


class OrderDetailApi(WorkspaceApi):
    """One order with its line items and its timeline."""

    @extend_schema(responses={200: OrderDetailOutputSerializer, **ERRORS})
    def get(self, request, order_id: int):
        return Response(OrderDetailOutputSerializer(_order_detail(self.workspace, order_id)).data)


# --- actions ---------------------------------------------------------------------------


class OrderCancelApi(WorkspaceApi):
    """Cancel an order (before it goes to production)."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrderCancelInput"

        reason = serializers.CharField(max_length=500, allow_blank=True, default="",
                                       help_text="A note for the timeline.")
        cancel_in_store = serializers.BooleanField(
            default=False, help_text="Also cancel the order in its connected store and "
            "refund the buyer there (Shopify, WooCommerce).")

    @extend_schema(request=InputSerializer,
                   responses={200: OrderDetailOutputSerializer, **ERRORS})
    def post(self, request, order_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.order_cancel(order_id=order_id, reason=CancelReason.SELLER,
                              actor=Actor.seller(request.user),
                              note=data.validated_data["reason"], workspace=self.workspace,
                              cancel_in_store=data.validated_data["cancel_in_store"])
        return Response(OrderDetailOutputSerializer(_order_detail(self.workspace, order_id)).data)


class LineChangeSerializer(serializers.Serializer):
    personalization = PersonalizationInputSerializer(many=True, required=False)
    images = serializers.ListField(child=serializers.URLField(), required=False)


class OrderEditApi(WorkspaceApi):
    """Change buyer, shipping address or personalisation while the order is not locked.

    Only the keys sent change. Editing an order held for a request for
    information answers it: the order goes back to where it was.
    """

    idempotent = True  # Idempotency-Key (docs/api.md)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrderEditInput"

        buyer_name = serializers.CharField(max_length=200, required=False)
        buyer_email = serializers.EmailField(required=False, allow_blank=True)
        shipping_address = AddressSerializer(required=False,
                                             help_text="Only the keys sent change.")
        lines = serializers.DictField(
            child=LineChangeSerializer(), required=False,
            help_text='{"<line id>": {"personalization": [{"key": "Name", "value": "Ana"}]}}',
        )

    @extend_schema(request=InputSerializer,
                   responses={200: OrderDetailOutputSerializer, **ERRORS})
    def post(self, request, order_id: int):
        if not isinstance(request.data, dict):
            raise ValidationFailed("Send the changes as a JSON object.")
        services.order_edit(order_id=order_id, actor=Actor.seller(request.user),
                            changes=dict(request.data), workspace=self.workspace)
        return Response(OrderDetailOutputSerializer(_order_detail(self.workspace, order_id)).data)


class BulkFailureSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reason = serializers.CharField()


class OrderBulkCancelApi(WorkspaceApi):
    """Cancel many orders; each succeeds or fails on its own."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrderBulkCancelInput"

        order_ids = serializers.ListField(child=IdField(), min_length=1,
                                          max_length=services.MAX_BULK)
        reason = serializers.CharField(max_length=500, allow_blank=True, default="")

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrderBulkCancelResult"

        done = serializers.ListField(child=serializers.IntegerField())
        failed = BulkFailureSerializer(many=True)

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer, **ERRORS})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.order_bulk_cancel(
            workspace=self.workspace, order_ids=data.validated_data["order_ids"],
            actor=Actor.seller(request.user), note=data.validated_data["reason"],
        )
        return Response({"done": result.done,
                         "failed": [{"id": i, "reason": why} for i, why in result.failed]})


class CsvCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()


class CsvDuplicateSerializer(serializers.Serializer):
    rows = serializers.ListField(child=serializers.IntegerField())
    number = serializers.CharField()


class CsvRejectedSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    reason = serializers.CharField()


class CsvImportStatusSerializer(serializers.Serializer):
    class Meta:
        ref_name = "OrderCsvImport"

    id = serializers.IntegerField()
    url = serializers.CharField(help_text="GET it for progress and the outcome.")
    status = serializers.ChoiceField(choices=CsvImportStatus.choices)
    filename = serializers.CharField()
    store = serializers.IntegerField(source="store_id")
    total_rows = serializers.IntegerField()
    rows_done = serializers.IntegerField()
    created_count = serializers.IntegerField()
    duplicate_count = serializers.IntegerField()
    rejected_count = serializers.IntegerField()
    ignored_columns = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField(help_text="Why a failed import stopped.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class CsvImportDetailSerializer(CsvImportStatusSerializer):
    class Meta:
        ref_name = "OrderCsvImportDetail"

    created = CsvCreatedSerializer(many=True)
    duplicates = CsvDuplicateSerializer(many=True)
    rejected = CsvRejectedSerializer(many=True)


def _import_body(request, job, *, detail: bool) -> dict:
    url = request.build_absolute_uri(reverse("api-orders-import-detail",
                                             kwargs={"import_id": job.pk}))
    body = {"id": job.pk, "url": url, "status": job.status, "filename": job.filename,
            "store": job.store_id, "total_rows": job.total_rows, "rows_done": job.rows_done,
            "created_count": job.created_count, "duplicate_count": job.duplicate_count,
            "rejected_count": job.rejected_count, "ignored_columns": job.ignored_columns,
            "error": job.error, "created_at": job.created_at, "finished_at": job.finished_at}
    if detail:
        report = csv_jobs.job_report(job)
        body |= {
            "created": [{"id": o.pk, "number": o.number} for o in report.created],
            "duplicates": [{"rows": rows, "number": n} for rows, n in report.duplicates],
            "rejected": [{"row": row, "reason": why} for row, why in report.rejected],
        }
    return body


class OrderCsvImportApi(WorkspaceApi):
    """Upload a CSV of outside-source orders (layout: docs/csv-import.md).

    The file is checked as a whole (size, encoding, columns: 400 if bad) and
    kept; its orders are imported in the background. 202 with the import's
    URL: GET it until `status` is `done`.
    """

    idempotent = True  # Idempotency-Key (docs/api.md)

    parser_classes = [MultiPartParser, FormParser, JSONParser]
    max_upload_bytes = csv_import.MAX_BODY_BYTES  # 413 unread (podhub/core/uploads.py)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrderCsvImportInput"

        file = serializers.FileField(help_text="UTF-8 CSV, at most 5 MB, one row per item.")
        store = IdField(required=False, help_text=(
            "An outside-source store; default: the workspace's 'Outside orders'."))

    @extend_schema(request={"multipart/form-data": InputSerializer},
                   responses={202: CsvImportStatusSerializer, **ERRORS})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = csv_jobs.csv_import_start(
            workspace=self.workspace, file=data.validated_data["file"],
            actor=Actor.seller(request.user),
            store=_store(self.workspace, data.validated_data.get("store")),
        )
        body = _import_body(request, job, detail=False)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class OrderCsvImportDetailApi(WorkspaceApi):
    """A CSV import's progress and, as it goes, what was created, skipped or rejected."""

    @extend_schema(responses={200: CsvImportDetailSerializer, **ERRORS})
    def get(self, request, import_id: int):
        job = selectors.csv_import_get(workspace=self.workspace, import_id=import_id)
        return Response(_import_body(request, job, detail=True))
