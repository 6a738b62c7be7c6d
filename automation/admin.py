"""Staff admin: every workspace's rules (staff may switch one off) and their firings,
read-only (a firing is a record of what happened)."""

from django.contrib import admin

from automation.models import ApplyJob, Rule, RuleFiring
from billing.admin import ReadOnlyAdmin as ReadOnly


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace", "trigger", "enabled", "position", "disabled_reason",
                    "updated_at")
    list_filter = ("trigger", "enabled")
    search_fields = ("name", "workspace__name")
    ordering = ("workspace", "position", "pk")
    readonly_fields = ("workspace", "name", "trigger", "match", "conditions", "actions",
                       "position", "created_by", "created_at", "updated_at")
    fields = ("workspace", "name", "trigger", "match", "conditions", "actions", "position",
              "enabled", "disabled_reason", "created_by", "created_at", "updated_at")

    def has_add_permission(self, request):
        return False  # sellers write rules; staff only switch one off


@admin.register(RuleFiring)
class RuleFiringAdmin(ReadOnly):
    list_display = ("created_at", "rule", "workspace", "order", "external_id", "event",
                    "depth", "error")
    list_filter = ("event",)
    search_fields = ("rule__name", "external_id", "order__number")
    list_select_related = ("rule", "workspace", "order")
    raw_id_fields = ("order",)


@admin.register(ApplyJob)
class ApplyJobAdmin(ReadOnly):
    list_display = ("created_at", "rule", "workspace", "state", "status", "done", "total",
                    "matched")
    list_filter = ("status",)
