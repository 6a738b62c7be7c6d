from django_scopes import scopes_disabled

from podhub.workspaces.models import Membership


def workspace(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    mine = getattr(request, "my_workspaces", None)
    if mine is None:  # not resolved by the middleware (admin pages): read them here
        # The switcher lists the user's own memberships: a per-user, not per-tenant, read.
        with scopes_disabled():
            mine = [m.workspace for m in Membership.objects.filter(user=user)
                    .select_related("workspace").order_by("created_at", "pk")]
    return {
        "workspace": getattr(request, "workspace", None),
        "membership": getattr(request, "membership", None),
        "my_workspaces": mine,
    }
