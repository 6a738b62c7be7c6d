"""Seller API of issue 7: bulk "Submit now", an order's shipments."""

import json
import mimetypes

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from fulfillment import claims, provider_cancel, selectors, submission
from fulfillment.models import (
    Claim,
    ClaimKind,
    ClaimStatus,
    PrintFile,
    Shipment,
    ShipmentStatus,
    Submission,
    SubmissionStatus,
)
from fulfillment.printfiles import artwork as printfile_artwork
from fulfillment.printfiles import design as printfile_design
from fulfillment.printfiles import editor as printfile_editor
from fulfillment.printfiles import selectors as printfile_selectors
from orders.events import Actor
from orders.hooks import store_takes_cancels
from orders.models import Order
from orders.serializers import ErrorSerializer
from orders.services import cancel_reaches_store
from podhub.core.api import IdField, WorkspaceApi
from podhub.core.exceptions import NotFound, ValidationFailed
from podhub.core.links import http_url
from podhub.core.pagination import PageParams, answer, page_of, paginate
from podhub.core.parsers import JSONParser
from podhub.core.uploads import file_response


class OrdersSubmitApi(WorkspaceApi):
    """POST /api/v1/orders/submit/ {"order_ids": [...]}: submit paid orders now."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrdersSubmitInput"

        order_ids = serializers.ListField(child=IdField(), allow_empty=False,
                                          max_length=submission.MAX_BULK)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrdersSubmitResult"

        submitted = serializers.ListField(child=serializers.IntegerField())
        failed = serializers.ListField(child=serializers.DictField(),
                                       help_text='[{"id": 12, "message": "why not"}]')

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = submission.orders_submit_now(
            workspace=self.workspace, order_ids=data.validated_data["order_ids"],
            actor=Actor.seller(request.user))
        return Response({"submitted": result.done,
                         "failed": [{"id": pk, "message": msg} for pk, msg in result.failed]})


class ShipmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField()
    status = serializers.CharField()
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    tracking_url = serializers.CharField()
    shipped_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    line_items = serializers.ListField(child=serializers.DictField())


class OrderShipmentsSerializer(serializers.Serializer):
    order_id = serializers.IntegerField()
    shipments = ShipmentSerializer(many=True)


class OrderShipmentsApi(WorkspaceApi):
    """GET /api/v1/orders/<order_id>/shipments/: each parcel with its own tracking."""

    @extend_schema(responses={200: OrderShipmentsSerializer})
    def get(self, request, order_id: int):
        panel = selectors.fulfillment_panel(workspace=self.workspace, order_id=order_id)
        return Response({"order_id": panel.order.pk, "shipments": [{
            "id": row.shipment.pk, "provider": row.provider_name,
            "status": row.shipment.status, "carrier": row.shipment.carrier,
            "tracking_number": row.shipment.tracking_number,
            "tracking_url": http_url(row.shipment.tracking_url),  # http(s) only
            "shipped_at": row.shipment.shipped_at, "delivered_at": row.shipment.delivered_at,
            "line_items": row.shipment.items} for row in panel.shipments]})


class SubmissionStateSerializer(serializers.Serializer):
    reference = serializers.CharField()
    provider = serializers.CharField()
    status = serializers.CharField()


class CancelAtProviderSerializer(serializers.Serializer):
    class Meta:
        ref_name = "CancelAtProviderResult"

    order_id = serializers.IntegerField()
    state = serializers.CharField(help_text="cancelled")
    cancel_reason = serializers.CharField()
    submissions = SubmissionStateSerializer(many=True)
    pushed_to_store = serializers.BooleanField(
        help_text="The cancel (with a refund to the buyer) goes to the connected store; "
        "false when the store cancelled the order itself or is not connected.")


class OrderCancelAtProviderApi(WorkspaceApi):
    """POST /api/v1/orders/<order_id>/cancel-at-provider/: an order changed or cancelled in
    the store after it went to production (flagged) is cancelled at its provider, where
    the provider still takes a cancel; then here, with what was paid back on the balance
    and the cancel pushed to the store (docs/store-truth.md "Cancel at the provider").
    Owner or admin only. A cancelled order is answered as it is."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    @extend_schema(request=None, responses={
        200: CancelAtProviderSerializer,
        403: OpenApiResponse(ErrorSerializer, description="Only the owner or an admin."),
        404: OpenApiResponse(ErrorSerializer, description="No such order in this workspace."),
        409: OpenApiResponse(ErrorSerializer, description="Not offered (not flagged, or the "
                             "provider takes no cancel now) or refused by the provider "
                             "(`provider_message`); `current_state`, `needs_attention` and "
                             "`submissions` give the order's state, which did not change."),
        503: OpenApiResponse(ErrorSerializer, description="The provider could not be "
                             "reached; nothing was cancelled.")})
    def post(self, request, order_id: int):
        order = provider_cancel.submission_cancel_at_provider(
            order_id=order_id, workspace=self.workspace, actor=Actor.seller(request.user))
        subs = Submission.objects.filter(order=order, workspace=self.workspace).exclude(
            status=SubmissionStatus.FAILED).select_related("provider").order_by("pk")
        cancelled = order.events.filter(type="order.cancelled").values_list(
            "data", flat=True).first() or {}
        return Response(CancelAtProviderSerializer({
            "order_id": order.pk, "state": order.state, "cancel_reason": order.cancel_reason,
            "submissions": [{"reference": s.reference, "provider": s.provider.code,
                             "status": s.status} for s in subs],
            "pushed_to_store": cancel_reaches_store(order.cancel_reason, cancelled)
            and store_takes_cancels(order)}).data)


# --- lists across orders (docs/api.md): shipments, claims, print files ------------------------


class ShipmentListSerializer(ShipmentSerializer):
    class Meta:
        ref_name = "ShipmentListItem"

    order_id = serializers.IntegerField()
    provider = serializers.CharField(source="submission.provider.code", default="")
    tracking_url = serializers.SerializerMethodField()
    line_items = serializers.JSONField(source="items")

    def get_tracking_url(self, shipment) -> str:
        return http_url(shipment.tracking_url)  # http(s) only


class ShipmentListApi(WorkspaceApi):
    """GET /api/v1/shipments/: every parcel, newest first; `?order=`, `?status=`."""

    class FilterSerializer(serializers.Serializer):
        order = IdField(required=False)
        status = serializers.ChoiceField(choices=ShipmentStatus.choices, required=False)

    @extend_schema(parameters=[FilterSerializer, PageParams],
                   responses=page_of(ShipmentListSerializer, "ShipmentPage"))
    def get(self, request):
        rows = _filtered(Shipment.objects.filter(workspace=self.workspace).select_related(
            "submission__provider"), self.FilterSerializer, request)
        return Response(answer(paginate(rows, params=request.query_params),
                               ShipmentListSerializer))


def _filtered(queryset, filter_serializer, request):
    """`queryset` narrowed by the query parameters `filter_serializer` declares (400
    naming a bad one); `order` and `line_item` are ids of the rows' order and line."""
    params = filter_serializer(data={k: v for k, v in request.query_params.items()
                                     if k in filter_serializer().fields})
    params.is_valid(raise_exception=True)
    lookups = {"order": "order_id", "line_item": "line_item_id"}
    return queryset.filter(**{lookups.get(k, k): v for k, v in params.validated_data.items()})


class ClaimSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    items = serializers.JSONField(help_text='[{"line_item_id", "quantity"}]; empty: the order')
    reprint_order_id = serializers.IntegerField(allow_null=True)
    refund_amount = serializers.DecimalField(max_digits=20, decimal_places=3, allow_null=True)
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


class ClaimListCreateApi(WorkspaceApi):
    """GET /api/v1/claims/: after-sales claims, newest first (`?order=`, `?status=`).
    POST opens one on a shipped order (fulfillment/claims.py): JSON, or multipart with up
    to 6 `photos`; staff answer with a reprint or a refund to the balance."""

    idempotent = True  # Idempotency-Key (docs/api.md)
    parser_classes = [JSONParser, MultiPartParser]
    max_upload_bytes = claims.MAX_CLAIM_BODY  # 413 unread (podhub/core/uploads.py)

    class FilterSerializer(serializers.Serializer):
        order = IdField(required=False)
        status = serializers.ChoiceField(choices=ClaimStatus.choices, required=False)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ClaimOpenInput"

        order_id = IdField()
        kind = serializers.ChoiceField(choices=ClaimKind.choices)
        message = serializers.CharField(max_length=5000, help_text="What went wrong.")
        line_item_ids = serializers.ListField(child=IdField(), required=False,
                                              help_text="Default: the whole order.")

    @extend_schema(parameters=[FilterSerializer, PageParams],
                   responses=page_of(ClaimSerializer, "ClaimPage"))
    def get(self, request):
        rows = _filtered(Claim.objects.filter(workspace=self.workspace), self.FilterSerializer,
                         request)
        return Response(answer(paginate(rows, params=request.query_params), ClaimSerializer))

    @extend_schema(request=InputSerializer, responses={201: ClaimSerializer, 409: OpenApiResponse(
        ErrorSerializer, description="The order has not shipped yet.")})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if not Order.objects.filter(workspace=self.workspace, pk=v["order_id"]).exists():
            raise ValidationFailed("order_id: no such order in this workspace.",
                                   fields={"order_id": "No such order in this workspace."})
        claim = claims.claim_open(workspace=self.workspace, order_id=v["order_id"],
                                  kind=v["kind"], message=v["message"], user=request.user,
                                  photos=request.FILES.getlist("photos"),
                                  line_item_ids=v.get("line_item_ids"))
        return Response(ClaimSerializer(claim).data, status=201)


class PrintFileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    line_item_id = serializers.IntegerField()
    side = serializers.CharField()
    version = serializers.IntegerField()
    format = serializers.CharField()
    width_px = serializers.IntegerField()
    height_px = serializers.IntegerField()
    dpi = serializers.IntegerField()
    size_bytes = serializers.IntegerField()
    has_errors = serializers.BooleanField()
    problems = serializers.JSONField()
    source = serializers.CharField(help_text="render (the design template), buyer (the "
                                   "buyer's file), seller (the seller's artwork)")
    created_at = serializers.DateTimeField()
    download_url = serializers.SerializerMethodField(
        help_text="GET with the same token: the file, as an attachment; null: not rendered yet")

    def get_download_url(self, pf) -> str | None:
        if not pf.file:
            return None
        return self.context["request"].build_absolute_uri(
            reverse("api-print-file-download", kwargs={"print_file_id": pf.pk}))


class PrintFileListApi(WorkspaceApi):
    """GET /api/v1/print-files/: print files (every version), newest first; `?order=`,
    `?line_item=`."""

    class FilterSerializer(serializers.Serializer):
        order = IdField(required=False)
        line_item = IdField(required=False)

    @extend_schema(parameters=[FilterSerializer, PageParams],
                   responses=page_of(PrintFileSerializer, "PrintFilePage"))
    def get(self, request):
        rows = _filtered(PrintFile.objects.filter(workspace=self.workspace),
                         self.FilterSerializer, request)
        return Response(answer(paginate(rows, params=request.query_params),
                               PrintFileSerializer, context={"request": request}))


class PrintFileDownloadApi(WorkspaceApi):
    """GET /api/v1/print-files/<id>/download/: the file itself, always as an attachment."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, print_file_id: int):
        pf = printfile_selectors.print_file_get(workspace=self.workspace,
                                                print_file_id=print_file_id)
        if not pf.file:
            raise NotFound("This print file is not rendered yet.")
        name = printfile_selectors.download_name(pf, printfile_selectors.line_position(pf))
        return file_response(pf.file, filename=name, attachment=True,
                             content_type=mimetypes.guess_type(pf.file.name)[0]
                             or "application/octet-stream")


class LineArtworkApi(WorkspaceApi):
    """POST /api/v1/orders/<id>/lines/<id>/artwork/ (multipart): the seller's artwork for one
    side of one item, as a `file` (PNG, JPEG, or a one-page PDF drawn at 300 DPI) or a `url`
    fetched through the outbound policy. 201 with the new print-file version (preflight
    problems included); the order is held or released as after a render. 400 with the
    reason when the file cannot be used (nothing stored), 409 once submitted, 413 too big."""

    idempotent = True  # Idempotency-Key (docs/api.md): a retried upload makes no version
    parser_classes = [MultiPartParser]
    max_upload_bytes = printfile_artwork.BODY_LIMIT  # 413 unread (podhub/core/uploads.py)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LineArtworkInput"

        side = serializers.SlugField(max_length=32, default="front",
                                     help_text="front, back, ...: the product's sides")
        file = serializers.FileField(required=False, help_text="PNG, JPEG or one-page PDF; "
                                     "checked by content, not by name. SVG is refused.")
        url = serializers.CharField(required=False, max_length=1000,
                                    help_text="http(s) link to the file, instead of `file`")

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={
        201: PrintFileSerializer,
        400: OpenApiResponse(ErrorSerializer, description="The artwork cannot be used (the "
                             "reason: corrupt, SVG, a PDF of many pages, a decompression "
                             "bomb, a link refused by the outbound policy ...); nothing stored."),
        409: OpenApiResponse(ErrorSerializer, description="The order went to production."),
        413: OpenApiResponse(ErrorSerializer, description="The file is over the limit.")})
    def post(self, request, order_id: int, line_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        pf = printfile_artwork.artwork_supply(
            workspace=self.workspace, order_id=order_id, line_id=line_id, side=v["side"],
            actor=Actor.seller(request.user), upload=v.get("file"), url=v.get("url", ""))
        return Response(PrintFileSerializer(pf, context={"request": request}).data,
                        status=201)


def _design_body(view, request, order_id: int, line_id: int) -> tuple[str, dict]:
    """The editor's JSON body (the side, and the edit state): bounded before it is read,
    and another workspace's item a 404 before it is judged (the walker checks)."""
    if len(request.body) > printfile_design.MAX_STATE_BYTES:
        raise printfile_editor.EditRefused("The design is over 64 KB.", field="state")
    printfile_selectors.line_get(workspace=view.workspace, order_id=order_id, line_id=line_id)
    data = LineDesignPreviewApi.InputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    state = dict(request.data)
    state.pop("side", None)
    return data.validated_data["side"], state


class LineDesignPreviewApi(WorkspaceApi):
    """POST /api/v1/orders/<id>/lines/<id>/design/preview/ (JSON): the design editor's edit
    state checked against the side's template and rendered at preview size by the production
    renderer: a PNG (its preflight problems in `X-Design-Problems`). 400 with the reason when
    the template does not allow it (a box outside the print area, a font or colour it does
    not offer, an unknown layer, a text too long ...): nothing is stored and the order is
    unchanged. 409 once the order is submitted or the side's design approved."""

    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LineDesignPreviewInput"

        side = serializers.SlugField(max_length=32, default="front")
        layers = serializers.ListField(
            child=serializers.DictField(), max_length=100,
            help_text='Edits, one per editable layer: {"id": "1", "text", "font", "color", '
            '"box": [left, top, width, height] in inches} for text; {"id", "photo": <photo '
            'id>, "box", "crop": [left, top, right, bottom] fractions} for photos '
            "(docs/print-files.md)")

    @extend_schema(request=InputSerializer, responses={
        # a PNG; declared as bytes, which generated clients read (image/png they drop)
        (200, "application/octet-stream"): OpenApiTypes.BINARY,
        400: OpenApiResponse(ErrorSerializer, description="Not allowed by the template (the "
                             "reason and the field); nothing stored."),
        404: OpenApiResponse(ErrorSerializer, description="No such item, or no template for "
                             "the side, in this workspace."),
        409: OpenApiResponse(ErrorSerializer, description="The order went to production, or "
                             "the design is approved.")})
    def post(self, request, order_id: int, line_id: int):
        side, state = _design_body(self, request, order_id, line_id)
        result = printfile_editor.design_preview(
            workspace=self.workspace, order_id=order_id, line_id=line_id, side=side,
            state=state)
        response = HttpResponse(result.content, content_type="image/png")
        response["Cache-Control"] = "private, no-store"
        response["X-Design-Problems"] = json.dumps([p.as_dict() for p in result.problems])
        return response


class DesignSerializer(serializers.Serializer):
    class Meta:
        ref_name = "LineDesign"

    side = serializers.CharField()
    layers = serializers.ListField(child=serializers.DictField(),
                                   help_text="The saved edits (as sent to preview).")
    approved_print_file_id = serializers.IntegerField(allow_null=True, help_text=(
        "The version that goes to production; null: not approved (the newest goes)."))
    approved_at = serializers.DateTimeField(allow_null=True)


def _design_answer(design) -> dict:
    return {"side": design.side, "layers": list((design.state or {}).get("layers") or []),
            "approved_print_file_id": design.approved_print_file_id,
            "approved_at": design.approved_at}


class LineDesignApi(WorkspaceApi):
    """The design editor over the API (docs/print-files.md, "The design editor").
    `GET ?side=`: the side's saved design. `POST` (JSON, the preview's body): check it
    like the preview, save it and render it at 300 DPI as a new print-file version (202;
    the version shows in the print files when rendered). 400 with the reason when the
    template does not allow it; 409 once submitted or approved."""

    idempotent = True  # Idempotency-Key (docs/api.md)
    parser_classes = [JSONParser]

    @extend_schema(parameters=[OpenApiParameter("side", str)],
                   responses={200: DesignSerializer, 404: ErrorSerializer})
    def get(self, request, order_id: int, line_id: int):
        t = printfile_editor.editor_target(workspace=self.workspace, order_id=order_id,
                                           line_id=line_id,
                                           side=request.query_params.get("side", "front"))
        design = printfile_editor.design_of(t)
        if design is None:
            raise NotFound("This side has no saved design yet.")
        return Response(DesignSerializer(_design_answer(design)).data)

    @extend_schema(request=LineDesignPreviewApi.InputSerializer,
                   responses={202: DesignSerializer, 400: ErrorSerializer,
                              404: ErrorSerializer, 409: ErrorSerializer})
    def post(self, request, order_id: int, line_id: int):
        side, state = _design_body(self, request, order_id, line_id)
        design = printfile_editor.design_finish(
            workspace=self.workspace, order_id=order_id, line_id=line_id, side=side,
            state=state, actor=Actor.seller(request.user), user=request.user)
        return Response(DesignSerializer(_design_answer(design)).data, status=202)


class LineDesignApproveApi(WorkspaceApi):
    """POST {"side", "print_file_id"}: approve the side's newest clean version: it is the
    one submitted, and renders leave the side alone. 409 while it renders, for an older
    version or one with problems, or once submitted. `{"side", "reopen": true}` lifts the
    approval to edit again."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LineDesignApproveInput"

        side = serializers.SlugField(max_length=32, default="front")
        print_file_id = IdField(required=False, help_text="The newest version's id.")
        reopen = serializers.BooleanField(default=False)

        def validate(self, data):
            if not data["reopen"] and "print_file_id" not in data:
                raise serializers.ValidationError(
                    {"print_file_id": "Which version: send the newest version's id."})
            return data

    @extend_schema(request=InputSerializer,
                   responses={200: DesignSerializer, 400: ErrorSerializer,
                              404: ErrorSerializer, 409: ErrorSerializer})
    def post(self, request, order_id: int, line_id: int):
        printfile_selectors.line_get(workspace=self.workspace, order_id=order_id,
                                     line_id=line_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        actor = Actor.seller(request.user)
        if v["reopen"]:
            design = printfile_editor.design_reopen(
                workspace=self.workspace, order_id=order_id, line_id=line_id, side=v["side"],
                actor=actor)
        else:
            design = printfile_editor.design_approve(
                workspace=self.workspace, order_id=order_id, line_id=line_id, side=v["side"],
                print_file_id=v["print_file_id"], actor=actor, user=request.user)
        return Response(DesignSerializer(_design_answer(design)).data)
