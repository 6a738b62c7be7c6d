"""Staff: endpoints and delivery logs, read-only; a replay action that calls the service."""

from django.contrib import admin, messages
from django_scopes import scope

from podhub.core.admin_inline import TabularInline
from podhub.core.exceptions import PodhubError
from webhooks import services
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnly):
    list_display = ("url", "workspace", "is_enabled", "consecutive_failures", "failing_since",
                    "created_at")
    list_filter = ("is_enabled",)
    list_select_related = ("workspace",)
    search_fields = ("url", "description")
    exclude = ("secret", "previous_secret")  # never shown, even to staff


class AttemptInline(TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "trigger", "created_at", "url", "request_headers", "response_status",
              "response_body", "duration_ms", "error")
    readonly_fields = fields
    ordering = ("-number",)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnly):
    list_display = ("msg_id", "event_type", "endpoint", "workspace", "status", "attempts",
                    "last_status_code", "next_attempt_at", "created_at")
    list_filter = ("status", "event_type")
    list_select_related = ("endpoint", "workspace")
    raw_id_fields = ("endpoint",)
    search_fields = ("msg_id", "endpoint__url")
    inlines = [AttemptInline]
    actions = ["replay"]

    @admin.action(description="Replay (a new attempt, same webhook-id)")
    def replay(self, request, queryset):
        done = 0
        for delivery in queryset.select_related("workspace"):
            try:
                with scope(workspace=delivery.workspace):
                    services.delivery_replay(workspace=delivery.workspace,
                                             delivery_id=delivery.pk, staff=True)
                done += 1
            except PodhubError as exc:
                self.message_user(request, f"{delivery.msg_id}: {exc.message}",
                                  messages.WARNING)
        self.message_user(request, f"{done} deliveries queued for replay.")
