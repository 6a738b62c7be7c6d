import pytest
from django.http import JsonResponse
from django.urls import include, path
from django_scopes import ScopeError, scope, scopes_disabled

from podhub.workspaces.models import Membership
from tests.tenancy import MARKER, find_leaks


@pytest.fixture
def tenant_a(owner):
    with scope(workspace=owner.workspace):
        # A's own name carries the marker so any list that leaks it is caught.
        owner.workspace.name = f"A {MARKER}"
        owner.workspace.save()
    return owner


def test_query_on_tenant_data_without_a_workspace_in_scope_raises(owner):
    # given no scope, when a tenant model is queried, then it is an error
    with pytest.raises(ScopeError):
        list(Membership.objects.all())


def test_scope_only_shows_its_own_workspace(owner, other_owner):
    with scope(workspace=other_owner.workspace):
        assert list(Membership.objects.all()) == [other_owner]


def test_every_route_refuses_workspace_a_objects_to_a_user_of_b(
    tenant_a, other_owner, client_for, api_client_for
):
    problems = find_leaks(
        a_membership=tenant_a,
        b_dashboard=client_for(other_owner),
        b_api=api_client_for(other_owner),
    )
    assert problems == []


# --- the walker itself catches a view that forgets its scope ----------------


def leaky_member_view(request, membership_id):
    with scopes_disabled():  # the bug: reads across tenants
        member = Membership.objects.select_related("user").get(pk=membership_id)
    return JsonResponse({"email": member.user.email})


def leaky_list_view(request):
    with scopes_disabled():
        emails = [m.user.email for m in Membership.objects.select_related("user", "workspace")]
        names = [m.workspace.name for m in Membership.objects.select_related("workspace")]
    return JsonResponse({"emails": emails, "names": names})


urlpatterns = [
    path("", include("podhub.urls")),
    path("leaky/members/<int:membership_id>/", leaky_member_view, name="leaky-member"),
    path("leaky/members/", leaky_list_view, name="leaky-list"),
]


def test_walker_catches_a_deliberately_unscoped_view(
    settings, tenant_a, other_owner, client_for, api_client_for
):
    settings.ROOT_URLCONF = "tests.podhub.test_tenancy"
    problems = find_leaks(
        a_membership=tenant_a,
        b_dashboard=client_for(other_owner),
        b_api=api_client_for(other_owner),
    )
    assert any("/leaky/members/" in p and "answered 200" in p for p in problems), problems
    assert any(p.startswith("GET /leaky/members/ ") and "showed A's data" in p
               for p in problems), problems


def test_walker_walks_the_etsy_oauth_callback_with_a_state_of_a(
    monkeypatch, tenant_a, other_owner, client_for, api_client_for
):
    """The callback is walked for each platform, Etsy's included: a callback that reads
    the state across workspaces (the bug planted here) is caught."""
    from integrations.etsy import services as etsy
    from integrations.models import OAuthState

    def leaky_complete(*, workspace, user, params, **kwargs):
        with scopes_disabled():  # the bug: any workspace's state
            OAuthState.objects.filter(nonce=params.get("state")).update(
                used_at=OAuthState.objects.get(nonce=params.get("state")).created_at)
        raise etsy.ValidationFailed("start again")

    monkeypatch.setattr(etsy, "oauth_complete", leaky_complete)
    problems = find_leaks(
        a_membership=tenant_a,
        b_dashboard=client_for(other_owner),
        b_api=api_client_for(other_owner),
    )
    assert any("/stores/connect/etsy/callback/" in p and "spent A's OAuth state" in p
               for p in problems), problems


def test_walker_fails_on_an_unregistered_url_keyword(
    settings, tenant_a, other_owner, client_for, api_client_for
):
    settings.ROOT_URLCONF = "tests.podhub.unregistered_urls"
    problems = find_leaks(
        a_membership=tenant_a,
        b_dashboard=client_for(other_owner),
        b_api=api_client_for(other_owner),
    )
    assert any("no factory for URL keyword(s) ['gizmo_id']" in p for p in problems), problems


def test_unknown_dashboard_page_is_a_friendly_404(client_for, owner):
    response = client_for(owner).get("/no-such-page/")
    assert response.status_code == 404
    assert "Not found" in response.content.decode()
