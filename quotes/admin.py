"""Staff: the catalog, exchange rates, and the quote queue.

The quote queue lists open quotes first, the longest-waiting on top with the
hours shown; each quote has one inline row per variant to price. "Send quote"
(list action, or the button on the quote page) calls quotes.services.quote_send.
"""

from django.contrib import admin, messages
from django.db import models
from django.db.models import Case, Count, IntegerField, Value, When
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from orders.models import Order
from podhub.core.admin_inline import TabularInline
from podhub.core.exceptions import PodhubError
from podhub.core.links import http_url
from podhub.core.money import format_money
from podhub.core.money_admin import MoneyAdminMixin
from quotes import calc, services
from quotes.forms import (
    ExchangeRateAdminForm,
    QuoteLineAdminForm,
    ShippingZoneAdminForm,
    VariantAdminForm,
)
from quotes.models import (
    AcceptedPrice,
    CatalogOrder,
    ExchangeRate,
    OrderPrice,
    Product,
    Provider,
    Quote,
    QuoteLine,
    QuoteStatus,
    SetupFeeCharge,
    ShippingMethod,
    ShippingRate,
    ShippingZone,
    StampsChoice,
    Variant,
    VariantProvider,
)

# --- catalog -------------------------------------------------------------------------------


class CatalogChangeMixin:
    """After staff change prices, waiting orders are evaluated again (doorbell + sweep)."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        waiting = services.catalog_recheck()
        if waiting:
            self.message_user(request, f"{waiting} waiting order(s) will be re-checked "
                              "against the new prices.")


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "kind", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "code")
    prepopulated_fields = {"code": ("name",)}


@admin.register(ShippingZone)
class ShippingZoneAdmin(admin.ModelAdmin):
    form = ShippingZoneAdminForm
    list_display = ("name", "countries", "is_rest_of_world")


class ShippingRateInline(TabularInline):
    model = ShippingRate
    extra = 1
    fields = ("zone", "currency", "first_item_amount", "additional_item_amount",
              "delivery_days_min", "delivery_days_max")


@admin.register(ShippingMethod)
class ShippingMethodAdmin(MoneyAdminMixin, CatalogChangeMixin, admin.ModelAdmin):
    list_display = ("name", "code", "handling_amount", "is_active", "sort_order")
    money_fields = {"handling_amount": "currency"}
    list_editable = ("sort_order",)
    inlines = [ShippingRateInline]


class VariantInline(TabularInline):
    model = Variant
    form = VariantAdminForm
    extra = 1
    fields = ("sku", "options", "weight_grams", "production_days", "price_amount", "tiers_text",
              "is_active")
    show_change_link = True


@admin.register(Product)
class ProductAdmin(MoneyAdminMixin, CatalogChangeMixin, admin.ModelAdmin):
    list_display = ("name", "category", "currency", "setup_fee_amount", "artwork_source",
                    "is_published", "made_for_workspace", "variant_count")
    money_fields = {"setup_fee_amount": "currency"}
    list_filter = ("is_published", "artwork_source", "shape", "category",
                   ("made_for_workspace", admin.EmptyFieldListFilter))
    search_fields = ("name", "variants__sku")
    raw_id_fields = ("made_for_workspace",)
    list_select_related = ("made_for_workspace",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [VariantInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_variants=Count("variants"))

    @admin.display(description="Variants", ordering="n_variants")
    def variant_count(self, obj):
        return obj.n_variants


class VariantProviderInline(TabularInline):
    model = VariantProvider
    extra = 1
    fields = ("provider", "provider_sku", "base_cost_amount", "currency", "priority",
              "is_active")


@admin.register(Variant)
class VariantAdmin(MoneyAdminMixin, CatalogChangeMixin, admin.ModelAdmin):
    form = VariantAdminForm
    list_display = ("sku", "product", "label", "price_amount", "production_days", "is_active")
    money_fields = {"price_amount": "product.currency"}
    list_select_related = ("product",)
    list_filter = ("is_active",)
    search_fields = ("sku", "product__name")
    raw_id_fields = ("product",)
    inlines = [VariantProviderInline]
    fields = ("product", "sku", "options", "weight_grams", "production_days", "price_amount",
              "tiers_text", "is_active")


@admin.register(ExchangeRate)
class ExchangeRateAdmin(CatalogChangeMixin, admin.ModelAdmin):
    form = ExchangeRateAdminForm
    list_display = ("from_currency", "to_currency", "rate", "updated_at")


# --- the quote queue -------------------------------------------------------------------------


class QuoteLineInline(TabularInline):
    model = QuoteLine
    form = QuoteLineAdminForm
    extra = 0
    can_delete = True
    fields = ("variant_title", "sku", "catalog_variant", "currency", "unit_price_amount",
              "setup_fee_amount", "production_days", "tiers_text", "valid_until", "notes")
    readonly_fields = ("variant_title", "sku")
    raw_id_fields = ("catalog_variant",)

    def has_add_permission(self, request, obj=None):
        return False  # variants come from the store's orders


def _waiting_hours(since, now) -> int:
    return int((now - since).total_seconds() // 3600)


# the statuses' labels are the seller's words ("Waiting for your answer"); staff read whose
# turn it is from their side
QUOTE_STATUS_FOR_STAFF = {QuoteStatus.REQUESTED: "To price (staff)",
                          QuoteStatus.SENT: "Sent, waiting for the seller"}


class QuoteStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status__exact"  # the plain field filter's links keep working

    def lookups(self, request, model_admin):
        return [(value, QUOTE_STATUS_FOR_STAFF.get(value, label))
                for value, label in QuoteStatus.choices]

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


@admin.register(Quote)
class QuoteAdmin(admin.ModelAdmin):
    list_display = ("title", "workspace", "store", "status_for_staff", "waiting",
                    "variant_count", "requested_at")
    list_display_links = ("title",)
    list_filter = (QuoteStatusFilter, "workspace", "store")
    list_select_related = ("workspace", "store")
    search_fields = ("title", "lines__sku")
    actions = ["send_quotes"]
    inlines = [QuoteLineInline]

    @admin.display(description="status", ordering="status")
    def status_for_staff(self, quote) -> str:
        return QUOTE_STATUS_FOR_STAFF.get(quote.status, quote.get_status_display())

    readonly_fields = ("workspace", "store", "title", "status_for_staff", "waiting",
                       "store_product_id", "images_preview", "personalization_preview",
                       "sample_order_link",
                       "waiting_orders", "requested_at", "sent_at", "sent_by", "answered_at",
                       "answered_by", "decline_reason", "history_text")
    fieldsets = (
        (None, {"fields": ("title", "workspace", "store", "status_for_staff", "waiting",
                           "store_product_id", "waiting_orders")}),
        ("What the buyer ordered", {"fields": ("images_preview", "personalization_preview",
                                               "sample_order_link")}),
        ("For the seller", {"fields": ("staff_notes",)}),
        ("History", {"fields": ("requested_at", "sent_at", "sent_by", "answered_at",
                                "answered_by", "decline_reason", "history_text")}),
    )
    change_form_template = "admin/quotes/quote/change_form.html"

    def has_add_permission(self, request):
        return False  # a quote is requested by an unmapped order

    def get_queryset(self, request):
        # annotate first: ModelAdmin.get_queryset orders by get_ordering() at once
        qs = self.model._default_manager.get_queryset().annotate(
            open_rank=Case(When(status=QuoteStatus.REQUESTED, then=Value(0)),
                           When(status=QuoteStatus.SENT, then=Value(1)), default=Value(2),
                           output_field=IntegerField()),
            n_lines=Count("lines"))
        return qs.order_by(*self.get_ordering(request))

    def get_ordering(self, request):
        # open quotes first, the longest-waiting on top
        return ("open_rank", "requested_at", "pk")

    @admin.display(description="Waiting", ordering="requested_at")
    def waiting(self, obj):
        now = timezone.now()
        if obj.status == QuoteStatus.REQUESTED:
            return f"{_waiting_hours(obj.requested_at, now)} h for us"
        if obj.status == QuoteStatus.SENT and obj.sent_at:
            return f"{_waiting_hours(obj.sent_at, now)} h for the seller"
        return "—"

    @admin.display(description="Variants", ordering="n_lines")
    def variant_count(self, obj):
        return obj.n_lines

    @admin.display(description="Images")
    def images_preview(self, obj):
        urls = [http_url(i.get("url")) for i in obj.images if isinstance(i, dict)]
        urls = [u for u in urls if u]
        if not urls:
            return "—"
        return format_html_join(" ", '<a href="{0}" target="_blank" rel="noopener">'
                                '<img src="{0}" alt="" style="max-height:90px"></a>',
                                ((u,) for u in urls[:8]))

    @admin.display(description="Personalisation sample")
    def personalization_preview(self, obj):
        pairs = [(p.get("key", ""), p.get("value", "")) for p in obj.personalization_sample
                 if isinstance(p, dict)]
        if not pairs:
            return "—"
        return format_html_join(mark_safe("<br>"), "<strong>{}</strong>: {}", pairs)

    @admin.display(description="Sample order")
    def sample_order_link(self, obj):
        if not obj.sample_order_id:
            return "—"
        order = Order.objects.filter(pk=obj.sample_order_id).only("number").first()
        return order.number if order else "—"

    @admin.display(description="Orders waiting")
    def waiting_orders(self, obj):
        from quotes.selectors import waiting_orders

        return len(waiting_orders(workspace=obj.workspace, quotes=[obj]).get(obj.pk, []))

    @admin.display(description="History")
    def history_text(self, obj):
        rows = [(h.get("at", "")[:16].replace("T", " "), h.get("what", ""), h.get("by", ""),
                 h.get("note", "")) for h in obj.history]
        return format_html_join(mark_safe("<br>"), "{} · {} · {} {}", rows) if rows else "—"

    def _send(self, request, quote):
        try:
            services.quote_send(quote_id=quote.pk, by=request.user)
        except PodhubError as exc:
            self.message_user(request, f"{quote.title}: not sent. {exc.message}",
                              level=messages.ERROR)
            return False
        return True

    @admin.action(description="Send quote to the seller")
    def send_quotes(self, request, queryset):
        sent = [q.title for q in queryset.order_by("pk") if self._send(request, q)]
        if sent:
            self.message_user(request, f"Sent {len(sent)} quote(s): " + ", ".join(sent) + ".",
                              level=messages.SUCCESS)

    def response_change(self, request, obj):
        if "_send" in request.POST:
            if self._send(request, obj):
                self.message_user(request, f"Quote for {obj.title} sent to the seller.",
                                  level=messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:quotes_quote_changelist"))
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


# --- what workspaces hold (read-only for staff) -----------------------------------------------


class ReadOnlyAdmin(MoneyAdminMixin, admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AcceptedPrice)
class AcceptedPriceAdmin(ReadOnlyAdmin):
    list_display = ("variant", "workspace", "unit_price_amount", "setup_fee_amount",
                    "tiers_text", "accepted_at")
    money_fields = {"unit_price_amount": "currency", "setup_fee_amount": "currency"}
    list_select_related = ("variant__product", "workspace")
    list_filter = ("workspace",)

    @admin.display(description="Tiers")
    def tiers_text(self, obj):
        return "; ".join(
            f"{t.range_text()}: {format_money(t.unit_price, obj.currency)}"
            + (f" {t.label}" if t.label else "")
            for t in sorted(calc.tiers_from_json(obj.tiers), key=lambda t: t.min_quantity)) or "—"


@admin.register(SetupFeeCharge)
class SetupFeeChargeAdmin(ReadOnlyAdmin):
    list_display = ("product", "workspace", "order", "amount", "created_at")
    money_fields = {"amount": "currency"}
    list_select_related = ("product", "workspace", "order")


@admin.register(StampsChoice)
class StampsChoiceAdmin(ReadOnlyAdmin):
    """A seller's stamps choice on a product's first catalog order (docs/pricing.md,
    "Made-to-order checkout"): unlabeled waives the setup fee, custom charges it once."""

    list_display = ("product", "workspace", "choice", "chosen_by", "chosen_at")
    list_select_related = ("product", "workspace", "chosen_by")
    list_filter = ("choice", "workspace")


@admin.register(CatalogOrder)
class CatalogOrderAdmin(ReadOnlyAdmin):
    """Orders sellers placed from the catalog, with the specifications they confirmed."""

    list_display = ("order", "workspace", "confirmed_by", "confirmed_at")
    list_select_related = ("order", "workspace", "confirmed_by")
    list_filter = ("workspace",)
    fields = ("order", "workspace", "confirmed_by", "confirmed_at", "billing_address",
              "specifications")


@admin.register(OrderPrice)
class OrderPriceAdmin(ReadOnlyAdmin):
    list_display = ("order", "workspace", "total_amount", "shipping_method", "taken_at")
    money_fields = {"total_amount": "currency"}
    list_select_related = ("order", "workspace")
