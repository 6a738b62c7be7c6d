"""Staff admin: design templates (with their artwork), renders and print files."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.files.uploadedfile import UploadedFile

from fulfillment.models import DesignTemplate, PrintFile, Render, TemplateAsset
from fulfillment.printfiles import conf
from fulfillment.printfiles.fonts import FONTS
from fulfillment.printfiles.spec import SpecError, parse_spec
from podhub.core.admin_inline import TabularInline
from podhub.core.exceptions import ValidationFailed
from podhub.core.money_admin import MoneyAdminMixin
from podhub.core.uploads import IMAGE_FORMATS, clean_image


class DesignTemplateForm(forms.ModelForm):
    class Meta:
        model = DesignTemplate
        fields = ["product", "side", "name", "output_format", "is_active", "spec"]
        help_texts = {
            "spec": "JSON: width_in, height_in, dpi (300), layers (background, image, text), "
                    "optional mockup. Fonts: " + ", ".join(FONTS) + ". See docs/print-files.md.",
        }

    def clean_spec(self):
        spec = self.cleaned_data["spec"]
        try:
            parse_spec(spec)
        except SpecError as exc:
            raise forms.ValidationError(
                [f"{path}: {reason}" for path, reason in exc.errors.items()]) from exc
        return spec

    def clean(self):
        cleaned = super().clean()
        spec = cleaned.get("spec")
        if self.instance.pk and isinstance(spec, dict):
            try:
                wanted = set(parse_spec(spec).assets)
            except SpecError:
                return cleaned
            have = set(self.instance.assets.values_list("name", flat=True))
            if wanted - have:
                self.add_error(None, "Upload the artwork the spec names (below, Template "
                               "assets): " + ", ".join(sorted(wanted - have)))
        return cleaned


class TemplateAssetForm(forms.ModelForm):
    class Meta:
        model = TemplateAsset
        fields = ["name", "file"]

    def clean_file(self):
        """Artwork is checked like every upload (podhub/core/uploads.py): decoded and
        written again by us under a generated name; TIFF accepted for print."""
        upload = self.cleaned_data["file"]
        if not isinstance(upload, UploadedFile):
            return upload  # unchanged: the file already stored (or none)
        try:
            return clean_image(upload, max_bytes=conf.max_upload_bytes(),
                               max_pixels=conf.max_pixels(), field="file", quality=95,
                               formats=(*IMAGE_FORMATS, "TIFF")).content
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from exc


class TemplateAssetInline(TabularInline):
    model = TemplateAsset
    form = TemplateAssetForm
    extra = 1


@admin.register(DesignTemplate)
class DesignTemplateAdmin(admin.ModelAdmin):
    form = DesignTemplateForm
    list_display = ["product", "side", "name", "output_format", "is_active", "updated_at"]
    list_filter = ["is_active", "output_format"]
    list_select_related = ["product"]
    raw_id_fields = ["product"]
    search_fields = ["product__name", "name", "side"]
    inlines = [TemplateAssetInline]
    readonly_fields = ["keys"]

    @admin.display(description="Personalisation keys read")
    def keys(self, obj):
        try:
            return ", ".join(parse_spec(obj.spec).keys) or "—"
        except SpecError:
            return "(invalid spec)"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "spec":
            field.widget = forms.Textarea(attrs={"rows": 24, "cols": 100,
                                                 "style": "font-family: monospace"})
            field.encoder = None
        return field


@admin.register(Render)
class RenderAdmin(admin.ModelAdmin):
    list_display = ["pk", "workspace", "order", "line_item", "status", "reason", "attempts",
                    "created_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["workspace", "order", "line_item"]
    raw_id_fields = ["workspace", "order", "line_item", "requested_by"]
    readonly_fields = ["status", "attempts", "error", "started_at", "finished_at"]
    actions = ["retry"]

    @admin.action(description="Retry (back to waiting; the sweep sends it)")
    def retry(self, request, queryset):
        from fulfillment.printfiles.services import renders_retry

        n = renders_retry(render_ids=queryset.values_list("pk", flat=True))
        messages.info(request, f"{n} render(s) will be retried within a minute.")


@admin.register(PrintFile)
class PrintFileAdmin(admin.ModelAdmin):
    list_display = ["pk", "workspace", "order", "line_item", "side", "version", "source",
                    "format", "has_errors", "created_at"]
    list_filter = ["has_errors", "source", "format"]
    list_select_related = ["workspace", "order", "line_item"]
    raw_id_fields = ["workspace", "order", "line_item", "render", "template"]
    readonly_fields = ["problems_text"]

    @admin.display(description="Preflight")
    def problems_text(self, obj):
        return json.dumps(obj.problems, indent=1, ensure_ascii=False)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- issue 7: providers, the in-house production board, shipments, webhooks, claims ----------

from django.contrib.admin.helpers import ActionForm  # noqa: E402
from django.core.exceptions import PermissionDenied  # noqa: E402
from django.shortcuts import get_object_or_404  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.html import format_html  # noqa: E402

from fulfillment import claims as claim_services  # noqa: E402
from fulfillment import shipments as shipment_services  # noqa: E402
from fulfillment.models import (  # noqa: E402
    Adapter,
    Claim,
    ClaimMessage,
    ClaimStatus,
    ProviderConnection,
    ProviderHold,
    ProviderWebhook,
    Shipment,
    ShipmentEvent,
    Submission,
    SubmissionStatus,
)
from podhub.core.exceptions import PodhubError  # noqa: E402


def _registry_help(attr: str) -> str:
    from fulfillment.providers import registry

    return " ".join(f"{spec.label}: {getattr(spec, attr)}"
                    for spec in registry.providers().values() if getattr(spec, attr))


class ProviderConnectionForm(forms.ModelForm):
    """Keys are typed in, never shown: a blank field keeps the stored value. The help
    texts come from the provider registry (each adapter's own words)."""

    api_base = forms.URLField(
        required=False, max_length=300, assume_scheme="https",
        help_text="Empty: the provider's public API; a local stand-in's URL to try it "
        "(manage.py run_provider_standin).")

    api_key = forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False))
    webhook_secret = forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = ProviderConnection
        fields = ["provider", "adapter", "api_base", "api_key", "webhook_secret",
                  "destinations", "production_hours", "is_enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["api_key"].help_text = _registry_help("key_help") + \
            " Blank: keep the stored one."
        self.fields["webhook_secret"].help_text = _registry_help("secret_help") + \
            " Blank: keep the stored one."
        self.fields["adapter"].help_text = "Provider SKUs in the catalog: " + \
            _registry_help("sku_help")

    def _keep(self, name: str):
        value = self.cleaned_data.get(name)
        if not value and self.instance.pk:
            return getattr(self.instance, name)
        return value or ""

    def clean_api_key(self):
        return self._keep("api_key")

    def clean_webhook_secret(self):
        return self._keep("webhook_secret")

    def save(self, commit=True):
        # Staff saved the connection (a new key, or the provider fixed): calls may go again.
        self.instance.problem, self.instance.problem_at = "", None
        return super().save(commit)


@admin.register(ProviderConnection)
class ProviderConnectionAdmin(admin.ModelAdmin):
    form = ProviderConnectionForm
    list_display = ["provider", "adapter", "api_base", "destinations", "production_hours",
                    "is_enabled", "problem_shown"]
    list_filter = ["adapter", "is_enabled"]
    readonly_fields = ["problem_shown"]
    actions = ["try_again"]

    @admin.display(description="Problem")
    def problem_shown(self, obj):
        if not obj.problem:
            return "—"
        when = f" (since {obj.problem_at:%Y-%m-%d %H:%M} UTC)" if obj.problem_at else ""
        return f"{obj.problem}{when}: no calls until the connection is saved"

    @admin.action(description="Try again (clear the problem: calls go out again)")
    def try_again(self, request, queryset):
        from fulfillment.providers import clear_problems

        n = clear_problems(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{n} connection(s) will be tried again.")


class BoardActionForm(ActionForm):
    carrier = forms.CharField(required=False, max_length=80, help_text="Mark shipped: carrier")
    tracking_numbers = forms.CharField(
        required=False, help_text="Mark shipped: one tracking number per selected order, in the "
        "order they are listed, separated by spaces")


class LateFilter(admin.SimpleListFilter):
    title = "production target"
    parameter_name = "late"

    def lookups(self, request, model_admin):
        return [("late", "Late (past the target)"), ("on_time", "On time")]

    def queryset(self, request, queryset):
        open_ = queryset.filter(status__in=[SubmissionStatus.ACCEPTED,
                                            SubmissionStatus.IN_PRODUCTION])
        if self.value() == "late":
            return open_.filter(due_at__lt=timezone.now())
        if self.value() == "on_time":
            return open_.filter(due_at__gte=timezone.now())
        return queryset


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    """The production board: filter by "In-house factory" for the print queue."""

    list_display = ["reference", "order_link", "provider", "status", "items_text", "due_at",
                    "late", "files", "external_id", "attempts"]
    list_filter = ["adapter", "status", LateFilter, "provider"]
    list_select_related = ["order", "provider"]
    search_fields = ["reference", "external_id", "order__number"]
    ordering = ["due_at", "pk"]
    raw_id_fields = ["workspace", "order", "provider"]
    readonly_fields = ["status", "reference", "external_id", "attempts", "error", "items",
                       "sent_at", "lease_until", "next_attempt_at", "first_failure_at"]
    action_form = BoardActionForm
    actions = ["mark_in_production", "mark_shipped", "send_now", "cancel_at_provider"]

    @admin.display(description="Order")
    def order_link(self, obj):
        return format_html('<a href="{}">{}</a>',
                           reverse("admin:orders_order_change", args=[obj.order_id]),
                           obj.order.number)

    @admin.display(description="Items")
    def items_text(self, obj):
        return ", ".join(f"{i['quantity']}× {i['provider_sku']}" for i in obj.items)

    @admin.display(description="Late", boolean=True)
    def late(self, obj):
        return obj.is_late

    @admin.display(description="Print files / packing slip")
    def files(self, obj):
        return format_html(
            '<a href="{}">print files (zip)</a> · <a href="{}" target="_blank">packing slip</a>',
            reverse("fulfillment:zip", args=[obj.order_id]),
            reverse("admin:fulfillment_submission_packing_slip", args=[obj.pk]))

    def get_urls(self):
        from django.urls import path

        return [path("<id:submission_id>/packing-slip/",
                     self.admin_site.admin_view(self.packing_slip),
                     name="fulfillment_submission_packing_slip"), *super().get_urls()]

    def packing_slip(self, request, submission_id: int):
        from django.shortcuts import render
        from django_scopes import scope

        from fulfillment import selectors

        sub = Submission.objects.select_related("order__workspace").get(pk=submission_id)
        with scope(workspace=sub.order.workspace):
            sheet = selectors.packing_sheet(workspace=sub.order.workspace,
                                            order_id=sub.order_id)
            return render(request, "fulfillment/packing_sheet.html", {"sheet": sheet})

    @admin.action(description="Mark in production (in-house)")
    def mark_in_production(self, request, queryset):
        n = shipment_services.board_mark_in_production(
            submission_ids=list(queryset.filter(adapter=Adapter.OWN).values_list("pk", flat=True)),
            user=request.user)
        messages.info(request, f"{n} order(s) in production.")

    @admin.action(description="Mark shipped with carrier + tracking numbers (in-house)")
    def mark_shipped(self, request, queryset):
        carrier = request.POST.get("carrier", "").strip()
        numbers = request.POST.get("tracking_numbers", "").split()
        ids = list(queryset.filter(adapter=Adapter.OWN).order_by("due_at", "pk")
                   .values_list("pk", flat=True))
        if not carrier or len(numbers) != len(ids):
            messages.error(request, f"Give a carrier and exactly {len(ids)} tracking number(s) "
                           "(one per selected in-house order).")
            return
        try:
            n = shipment_services.board_mark_shipped(
                submission_ids=ids, carrier=carrier, numbers=dict(zip(ids, numbers, strict=True)),
                user=request.user)
        except PodhubError as exc:
            messages.error(request, exc.message)
            return
        messages.info(request, f"{n} order(s) shipped; tracking goes to the stores.")

    @admin.action(description="Send now (API providers)")
    def send_now(self, request, queryset):
        from fulfillment.submission import submissions_send_now

        sent = submissions_send_now(submission_ids=queryset.values_list("pk", flat=True))
        messages.info(request, f"{sent} submission(s) sent.")

    @admin.action(description="Cancel at the provider (order changed or cancelled in the "
                  "store after submission)")
    def cancel_at_provider(self, request, queryset):
        """The seller's "Cancel at <provider>", for staff (docs/store-truth.md)."""
        from fulfillment.provider_cancel import submission_cancel_at_provider
        from orders.events import Actor

        done = 0
        for order_id in dict.fromkeys(queryset.order_by("pk").values_list("order_id",
                                                                          flat=True)):
            try:
                order = submission_cancel_at_provider(order_id=order_id,
                                                      actor=Actor.staff(request.user))
            except PodhubError as exc:
                messages.error(request, f"Order {order_id}: {exc.message}")
            else:
                done += order.state == "cancelled"
        if done:
            messages.info(request, f"{done} order(s) cancelled at the provider.")


class ShipmentEventInline(TabularInline):
    model = ShipmentEvent
    extra = 0
    readonly_fields = ["status", "message", "occurred_at", "source"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = ["pk", "order", "submission", "status", "carrier", "tracking_number",
                    "shipped_at", "delivered_at"]
    list_filter = ["status"]
    list_select_related = ["order", "submission"]
    search_fields = ["tracking_number", "order__number", "external_id"]
    raw_id_fields = ["workspace", "order", "submission"]
    readonly_fields = ["status", "shipped_at", "delivered_at"]
    inlines = [ShipmentEventInline]


@admin.register(ProviderHold)
class ProviderHoldAdmin(admin.ModelAdmin):
    """Orders held at a provider during their countdown (fulfillment/holds.py): what the
    provider holds, and why a hold was refused or waits."""

    list_display = ["reference", "order", "provider", "status", "external_id", "dirty",
                    "error", "updated_at"]
    list_filter = ["status", "adapter"]
    list_select_related = ["order", "provider"]
    search_fields = ["reference", "external_id", "order__number"]
    raw_id_fields = ["workspace", "order", "provider"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(ProviderWebhook)
class ProviderWebhookAdmin(admin.ModelAdmin):
    list_display = ["pk", "provider_code", "event_key", "result", "reason", "received_at"]
    list_filter = ["provider_code", "result"]
    search_fields = ["event_key"]
    actions = ["reprocess"]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Process again")
    def reprocess(self, request, queryset):
        for webhook_id in queryset.values_list("pk", flat=True):
            shipment_services.webhook_reprocess(webhook_id=webhook_id)
        messages.info(request, "Processed.")


class ClaimMessageInline(TabularInline):
    model = ClaimMessage
    extra = 0
    fields = ["created_at", "from_staff", "author", "body", "photo_link"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Photo")
    def photo_link(self, obj):
        # Through our view (an attachment that cannot run), never a storage URL.
        if not obj.photo:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:fulfillment_claim_photo",
                                                          args=[obj.pk]),
                           obj.photo_name or "photo")


class ClaimActionForm(ActionForm):
    amount = forms.DecimalField(required=False, min_value=0, help_text="Refund: amount")
    note = forms.CharField(required=False, help_text="Message to the seller")


@admin.register(Claim)
class ClaimAdmin(MoneyAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "order", "kind", "status", "created_at", "reprint_order",
                    "refund_amount"]
    list_filter = ["status", "kind"]
    list_select_related = ["order", "reprint_order", "workspace"]
    # a refund goes to the seller's balance, kept in the workspace's billing currency
    money_fields = {"refund_amount": "workspace.billing_currency"}
    raw_id_fields = ["workspace", "order", "reprint_order", "opened_by"]
    readonly_fields = ["status", "reprint_order", "refund_amount", "resolved_at", "items"]
    inlines = [ClaimMessageInline]
    action_form = ClaimActionForm
    actions = ["reply", "reprint", "refund", "reject"]

    def get_urls(self):
        from django.urls import path

        photo = self.admin_site.admin_view(self.photo_view)
        return [path("photo/<id:claim_message_id>/", photo, name="fulfillment_claim_photo"),
                *super().get_urls()]

    def photo_view(self, request, claim_message_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        msg = get_object_or_404(ClaimMessage.objects.exclude(photo=""), pk=claim_message_id)
        return claim_services.photo_response(msg)

    def _each(self, request, queryset, fn, label):
        done = 0
        for claim in queryset:
            try:
                fn(claim)
            except PodhubError as exc:
                messages.error(request, f"Claim {claim.pk}: {exc.message}")
            else:
                done += 1
        if done:
            messages.info(request, f"{done} claim(s) {label}.")

    @admin.action(description="Reply (the note)")
    def reply(self, request, queryset):
        note = request.POST.get("note", "").strip()
        if not note:
            messages.error(request, "Write the reply in the note field.")
            return
        self._each(request, queryset, lambda c: claim_services.staff_reply(
            claim_id=c.pk, message=note, user=request.user), "answered")

    @admin.action(description="Answer with a reprint (new order at no charge)")
    def reprint(self, request, queryset):
        note = request.POST.get("note", "")
        self._each(request, queryset.filter(status=ClaimStatus.OPEN),
                   lambda c: claim_services.claim_reprint(claim_id=c.pk, user=request.user,
                                                          note=note), "reprinted")

    @admin.action(description="Answer with a refund to the balance (amount)")
    def refund(self, request, queryset):
        amount = request.POST.get("amount", "").strip()
        if not amount:
            messages.error(request, "Give the amount to refund.")
            return
        self._each(request, queryset.filter(status=ClaimStatus.OPEN),
                   lambda c: claim_services.claim_refund(
                       claim_id=c.pk, amount=amount, user=request.user,
                       note=request.POST.get("note", "")), "refunded")

    @admin.action(description="Reject (the note says why)")
    def reject(self, request, queryset):
        self._each(request, queryset.filter(status=ClaimStatus.OPEN),
                   lambda c: claim_services.claim_reject(claim_id=c.pk, user=request.user,
                                                         note=request.POST.get("note", "")),
                   "rejected")
