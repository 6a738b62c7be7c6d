"""Staff views of connections, deliveries and pushes. Secrets are never shown."""

from django.contrib import admin

from integrations.models import (
    ImportJob,
    InboundWebhook,
    OutboxMessage,
    StoreConnection,
)


@admin.register(StoreConnection)
class StoreConnectionAdmin(admin.ModelAdmin):
    list_display = ("shop_domain", "store", "workspace", "kind", "status", "last_webhook_at",
                    "last_sweep_at")
    list_filter = ("status", "kind", "platform")
    search_fields = ("shop_domain",)
    list_select_related = ("store", "workspace")
    exclude = ("access_token", "refresh_token", "webhook_secret")
    readonly_fields = [f.name for f in StoreConnection._meta.fields
                       if f.name not in ("access_token", "refresh_token", "webhook_secret")]

    def has_add_permission(self, request):
        return False


@admin.register(InboundWebhook)
class InboundWebhookAdmin(admin.ModelAdmin):
    list_display = ("created_at", "topic", "connection", "status", "attempts", "result")
    list_filter = ("status", "topic")
    search_fields = ("event_id", "resource_id")
    list_select_related = ("connection",)
    raw_id_fields = ("connection", "workspace")
    readonly_fields = ("event_id", "webhook_id", "topic", "resource_id", "body", "status",
                       "attempts", "result", "error", "processed_at")


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("pk", "connection", "status", "method", "imported", "total", "skipped",
                    "failed", "bulk_status", "heartbeat_at")
    list_filter = ("status", "method")
    readonly_fields = ("bulk_operation_id", "bulk_status", "bulk_objects", "bulk_attempts",
                       "next_check_at", "problems")
    list_select_related = ("connection",)
    raw_id_fields = ("connection", "workspace")


@admin.action(description="Retry now")
def retry_now(modeladmin, request, queryset):
    from integrations.services.outbox import outbox_retry_now

    sent = outbox_retry_now(message_ids=list(queryset.values_list("pk", flat=True)))
    modeladmin.message_user(request, f"{len(sent)} push(es) sent again.")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "store", "order", "status", "attempts",
                    "next_attempt_at")
    list_filter = ("status", "kind")
    search_fields = ("key",)
    list_select_related = ("store", "order")
    raw_id_fields = ("store", "order", "workspace")
    readonly_fields = ("status", "attempts", "result", "last_error", "done_at")
    actions = [retry_now]
