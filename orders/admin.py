"""Staff admin for stores and orders (runs with scopes disabled for staff).

The order is read-only here: state and everything else change only through
orders/services/, which the admin actions call with Actor.staff.
"""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from orders import services
from orders.events import Actor
from orders.models import (
    CancelReason,
    CsvImport,
    CsvImportLine,
    LineItem,
    Order,
    OrderEvent,
    Store,
)
from podhub.core.admin_inline import TabularInline
from podhub.core.exceptions import PodhubError
from podhub.core.money_admin import MoneyAdminMixin


class StoreAdminForm(forms.ModelForm):
    class Meta:
        model = Store
        fields = ("timezone",)  # the admin adds the others

    def clean_timezone(self):
        value = (self.cleaned_data.get("timezone") or "UTC").strip()
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(
                f"{value!r} is not a time zone name such as Europe/Berlin."
            ) from None
        return value


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    form = StoreAdminForm
    list_display = ("name", "workspace", "platform", "currency", "submit_mode",
                    "submit_after_hours", "submit_daily_at", "timezone", "loss_policy",
                    "auto_pay", "is_active")
    list_filter = ("platform", "submit_mode", "loss_policy", "is_active")
    search_fields = ("name",)
    list_select_related = ("workspace",)
    raw_id_fields = ("workspace",)
    readonly_fields = ("is_outside_default", "created_at", "updated_at")


class LineItemInline(MoneyAdminMixin, TabularInline):
    model = LineItem
    extra = 0
    can_delete = False
    show_change_link = False
    fields = ("sku", "title", "variant_title", "quantity", "unit_price_amount",
              "discount_amount", "personalization", "images", "catalog_variant_id",
              "unmapped_reason")
    readonly_fields = fields
    money_fields = {"unit_price_amount": "order.currency", "discount_amount": "order.currency"}

    def has_add_permission(self, request, obj=None):
        return False


class OrderEventInline(TabularInline):
    """The timeline, oldest first; written only by orders/services/timeline.py."""

    model = OrderEvent
    extra = 0
    can_delete = False
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline"
    fields = ("created_at", "type", "from_state", "to_state", "actor_type", "actor_label",
              "message")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def has_add_permission(self, request, obj=None):
        return False


class RequestInfoForm(forms.Form):
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}), max_length=4000,
        label="What is missing or wrong",
        help_text="E-mailed to the seller and shown on the order; they answer by editing "
        "the order. Without an answer in time the order is cancelled.",
    )


@admin.register(Order)
class OrderAdmin(MoneyAdminMixin, admin.ModelAdmin):
    list_display = ("number", "workspace", "store", "state", "hold_reason", "cancel_reason",
                    "buyer_name", "buyer_email", "placed_at")
    list_filter = ("state", "store__platform", "hold_reason", "cancel_reason")
    search_fields = ("number", "=external_id", "buyer_name", "buyer_email")
    list_select_related = ("workspace", "store")
    raw_id_fields = ("workspace", "store")
    show_full_result_count = False  # no COUNT(*) over every order on each page
    ordering = ("-placed_at", "-id")
    actions = ["request_information", "cancel_for_copyright", "cancel_provider_rejected",
               "cancel_by_staff"]
    inlines = [LineItemInline, OrderEventInline]
    money_fields = dict.fromkeys(("subtotal_amount", "discount_amount", "shipping_amount",
                                  "tax_amount", "total_amount"), "currency")
    fieldsets = (
        (None, {"fields": ("workspace", "store", "number", "external_id", "channel", "state",
                           "needs_attention", "auto_submit")}),
        ("Hold and cancel", {"fields": ("return_state", "hold_reason", "hold_message",
                                        "info_due_at", "cancel_reason", "cancel_note")}),
        ("Buyer", {"fields": ("buyer_name", "buyer_email", "shipping_address")}),
        ("Totals", {"fields": ("currency", "subtotal_amount", "discount_amount",
                               "shipping_amount", "tax_amount", "total_amount")}),
        ("Dates", {"fields": ("placed_at", "store_updated_at", "priced_at", "paid_at",
                              "submit_at", "submitted_at", "shipped_at", "completed_at",
                              "cancelled_at", "created_at", "updated_at")}),
    )

    def get_readonly_fields(self, request, obj=None):
        # Every field: changes go through the actions (services), never a raw save.
        return self.money_readonly(f.name for f in Order._meta.concrete_fields if f.name != "id")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Request information from the seller")
    def request_information(self, request, queryset):
        form = RequestInfoForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            _each(request, queryset, "Information requested",
                  lambda order: services.order_request_info(
                      order_id=order.pk, message=form.cleaned_data["message"],
                      actor=Actor.staff(request.user)))
            return None  # back to the list, with the messages
        return TemplateResponse(request, "admin/orders/order/request_info.html", {
            **self.admin_site.each_context(request),
            "title": "Request information from the seller",
            "opts": self.model._meta,
            "orders": list(queryset.select_related("store", "workspace")),
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "request_information",
        })

    @admin.action(description="Cancel for copyright violation")
    def cancel_for_copyright(self, request, queryset):
        _each(request, queryset, "Cancelled for copyright violation",
              lambda order: services.order_cancel(
                  order_id=order.pk, reason=CancelReason.COPYRIGHT,
                  actor=Actor.staff(request.user),
                  note="Cancelled by staff: the design violates copyright."))

    @admin.action(description="Cancel: no provider can make it (rejected)")
    def cancel_provider_rejected(self, request, queryset):
        _each(request, queryset, "Cancelled: rejected by the providers",
              lambda order: services.order_cancel(
                  order_id=order.pk, reason=CancelReason.PROVIDER_REJECTED,
                  actor=Actor.staff(request.user),
                  note="Cancelled by staff: no provider can make this order."))

    @admin.action(description="Cancel (staff decision)")
    def cancel_by_staff(self, request, queryset):
        _each(request, queryset, "Cancelled by staff",
              lambda order: services.order_cancel(
                  order_id=order.pk, reason=CancelReason.STAFF,
                  actor=Actor.staff(request.user), note="Cancelled by PodHub staff."))


def _each(request, queryset, done_label: str, action) -> None:
    """Run the service per order (each its own transaction); report every outcome."""
    done = []
    for order in queryset.order_by("id"):
        try:
            action(order)
        except PodhubError as exc:
            messages.error(request, f"{order.number}: {exc.message}")
        else:
            done.append(order.number)
    if done:
        messages.success(request, f"{done_label}: {', '.join(done)}.")


class CsvImportLineInline(TabularInline):
    model = CsvImportLine
    fields = ("row", "rows", "outcome", "number", "order", "reason")
    readonly_fields = fields
    raw_id_fields = ("order",)
    extra = 0
    can_delete = False
    max_num = 0
    show_change_link = False


@admin.register(CsvImport)
class CsvImportAdmin(admin.ModelAdmin):
    """CSV imports, read-only: what was uploaded and what became of each row."""

    list_display = ("id", "workspace", "store", "filename", "status", "rows_done", "total_rows",
                    "created_count", "duplicate_count", "rejected_count", "created_at")
    list_filter = ("status",)
    list_select_related = ("workspace", "store")
    search_fields = ("filename", "sha256")
    readonly_fields = ("workspace", "store", "created_by", "file", "filename", "sha256",
                       "status", "total_rows", "total_groups", "rows_done", "next_group",
                       "created_count", "duplicate_count", "rejected_count", "ignored_columns",
                       "attempts", "error", "started_at", "heartbeat_at", "finished_at",
                       "created_at")
    fields = readonly_fields
    inlines = [CsvImportLineInline]

    def has_add_permission(self, request):
        return False
