from django.contrib import admin

from podhub.core.admin_inline import TabularInline
from podhub.workspaces.models import ApiToken, Invitation, Membership, Workspace


class MembershipInline(TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "billing_currency", "time_zone", "created_at")
    search_fields = ("name",)
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "workspace", "role", "created_at", "expires_at", "accepted_at",
                    "revoked_at")
    list_select_related = ("workspace",)
    search_fields = ("email",)
    exclude = ("token_hash",)
    readonly_fields = ("workspace", "email", "role", "invited_by", "expires_at", "accepted_at")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "workspace", "user", "created_at", "last_used_at",
                    "revoked_at")
    list_select_related = ("workspace", "user")
    exclude = ("key_hash",)
    readonly_fields = ("workspace", "user", "prefix", "last_used_at")
