"""Staff: read the money, adjust balances and refund orders — always through services,
always with a reason that lands in the ledger. Ledger rows are never edited here."""

import secrets

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from billing import payments, stripe_events, topups
from billing.models import (
    Account,
    Hold,
    Invoice,
    LedgerEntry,
    OrderCharge,
    Payment,
    PaymentProfile,
    ShipmentGroup,
    StripeEvent,
    TopUp,
)
from podhub.core.exceptions import PodhubError
from podhub.core.money_admin import MoneyAdminMixin


class ReadOnlyAdmin(MoneyAdminMixin, admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MoneyForm(forms.Form):
    amount = forms.DecimalField(max_digits=20, decimal_places=3,
                                help_text="Positive credits the balance, negative debits it.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000,
                             help_text="Shown to the seller in the ledger.")
    key = forms.CharField(widget=forms.HiddenInput)


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("workspace", "balance_amount", "held_amount", "available", "debt_amount",
                    "adjust_link")
    money_fields = {"balance_amount": "currency", "held_amount": "currency",
                    "debt_amount": "currency", "available_amount": "currency"}
    list_select_related = ("workspace",)
    search_fields = ("workspace__name",)

    @admin.display(description="available")
    def available(self, obj):
        return self.available_amount_shown(obj)

    @admin.display(description="")
    def adjust_link(self, obj):
        url = reverse("admin:billing_account_adjust", args=[obj.pk])
        return format_html('<a href="{}">Adjust balance…</a>', url)

    def get_urls(self):
        return [path("<id:account_id>/adjust/", self.admin_site.admin_view(self.adjust_view),
                     name="billing_account_adjust"), *super().get_urls()]

    def adjust_view(self, request, account_id: int):
        account = get_object_or_404(Account.objects.select_related("workspace"), pk=account_id)
        form = MoneyForm(request.POST or None,
                         initial={"key": secrets.token_urlsafe(16)})
        if request.method == "POST" and form.is_valid():
            try:
                entry = topups.balance_adjust(
                    workspace_id=account.workspace_id, amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"], staff_user=request.user,
                    key=f"adjust:{account.workspace_id}:{form.cleaned_data['key']}")
            except PodhubError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Ledger entry {entry.pk}: {entry.memo}")
                return redirect("admin:billing_account_changelist")
        return render(request, "admin/billing/money_form.html", {
            **self.admin_site.each_context(request), "form": form, "title":
            f"Adjust the balance of {account.workspace}", "account": account})


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "workspace", "kind", "amount", "balance_delta",
                    "balance_after", "held_after", "order", "memo", "actor")
    money_fields = {"amount": "currency", "balance_delta": "currency", "held_delta": "currency",
                    "balance_after": "currency", "held_after": "currency"}
    list_filter = ("kind",)
    list_select_related = ("workspace", "order", "actor")
    search_fields = ("idempotency_key", "memo", "workspace__name", "order__number")
    raw_id_fields = ("order", "hold", "payment", "top_up", "group", "actor")
    date_hierarchy = "created_at"


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("pk", "workspace", "purpose", "order", "amount", "captured_amount",
                    "released_amount", "is_open")
    money_fields = {"amount": "currency", "captured_amount": "currency",
                    "released_amount": "currency"}
    list_filter = ("is_open", "purpose")
    list_select_related = ("workspace", "order")


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = ("pk", "workspace", "kind", "status", "amount", "credited_at",
                    "refunded_amount", "disputed_amount", "stripe_session_id")
    money_fields = {"amount": "currency", "refunded_amount": "currency",
                    "disputed_amount": "currency"}
    list_filter = ("kind", "status")
    list_select_related = ("workspace",)
    search_fields = ("stripe_session_id", "stripe_payment_intent_id")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("pk", "workspace", "total_amount", "auto", "created_at", "created_by")
    money_fields = {"total_amount": "currency", "product_amount": "currency",
                    "shipping_amount": "currency"}
    list_select_related = ("workspace", "created_by")


@admin.register(OrderCharge)
class OrderChargeAdmin(ReadOnlyAdmin):
    list_display = ("order", "workspace", "product_amount", "shipping_amount",
                    "shipping_method", "group", "refund_link")
    money_fields = {"product_amount": "currency", "shipping_amount": "currency"}
    list_select_related = ("order", "workspace")
    search_fields = ("order__number",)
    raw_id_fields = ("order", "payment", "product_hold", "shipping_hold", "group")

    @admin.display(description="")
    def refund_link(self, obj):
        url = reverse("admin:billing_ordercharge_refund", args=[obj.pk])
        return format_html('<a href="{}">Refund to balance…</a>', url)

    def get_urls(self):
        return [path("<id:charge_id>/refund/", self.admin_site.admin_view(self.refund_view),
                     name="billing_ordercharge_refund"), *super().get_urls()]

    def refund_view(self, request, charge_id: int):
        charge = get_object_or_404(OrderCharge.objects.select_related("order"), pk=charge_id)
        form = MoneyForm(request.POST or None, initial={"key": secrets.token_urlsafe(16)})
        form.fields["amount"].help_text = "Up to what was captured for this order."
        if request.method == "POST" and form.is_valid():
            try:
                entry = payments.order_refund(
                    workspace_id=charge.workspace_id, order_id=charge.order_id,
                    amount=form.cleaned_data["amount"], reason=form.cleaned_data["reason"],
                    staff_user=request.user, key=form.cleaned_data["key"])
            except PodhubError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Ledger entry {entry.pk}: {entry.memo}")
                return redirect("admin:billing_ordercharge_changelist")
        return render(request, "admin/billing/money_form.html", {
            **self.admin_site.each_context(request), "form": form,
            "title": f"Refund order {charge.order.number} to the seller's balance"})


@admin.register(ShipmentGroup)
class ShipmentGroupAdmin(ReadOnlyAdmin):
    list_display = ("pk", "workspace", "item_count", "fee_amount", "separate_amount",
                    "saved_amount", "shipping_method", "created_at")
    money_fields = {"fee_amount": "currency", "separate_amount": "currency",
                    "saved_amount": "currency"}
    list_select_related = ("workspace",)


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ("number", "workspace", "kind", "total_amount", "issued_at")
    money_fields = {"total_amount": "currency"}
    list_filter = ("kind",)
    list_select_related = ("workspace",)
    search_fields = ("number",)


@admin.register(PaymentProfile)
class PaymentProfileAdmin(ReadOnlyAdmin):
    """Read-only but for the workspace's daily caps on automatic charges."""

    list_display = ("workspace", "card_brand", "card_last4", "auto_recharge",
                    "recharge_threshold_amount", "recharge_amount", "recharge_failure",
                    "recharge_max_per_day", "recharge_max_amount_per_day")
    list_select_related = ("workspace",)
    fields = ("workspace", "card_brand", "card_last4", "auto_recharge",
              "recharge_threshold_amount", "recharge_amount", "recharge_failure",
              "recharge_capped_at", "recharge_max_per_day", "recharge_max_amount_per_day")
    readonly_fields = fields[:-2]
    money_fields = {"recharge_threshold_amount": "workspace.billing_currency",
                    "recharge_amount": "workspace.billing_currency"}

    def has_change_permission(self, request, obj=None):
        return admin.ModelAdmin.has_change_permission(self, request, obj)

    def save_model(self, request, obj, form, change):
        topups.recharge_caps_set(profile_id=obj.pk, max_per_day=obj.recharge_max_per_day,
                                 max_amount_per_day=obj.recharge_max_amount_per_day)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "status", "workspace", "attempts", "received_at",
                    "note")
    list_filter = ("status", "type")
    search_fields = ("event_id",)
    actions = ["reprocess"]

    @admin.action(description="Process again (idempotent)")
    def reprocess(self, request, queryset):
        for event_id in queryset.values_list("pk", flat=True):
            stripe_events.stripe_event_reprocess(stripe_event_id=event_id)
        self.message_user(request, f"{queryset.count()} event(s) processed again.")
