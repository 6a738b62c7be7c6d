"""Issue 13, money actions by role: top-ups, the saved card and auto-recharge charge the
workspace's card, so only the owner and admins may start or change them — in the API
(403, the one error body) and in the dashboard (a clear refusal; the controls are not
shown to members). Members still see the balance and pay orders from it. Amounts keep
to the limits of docs/billing.md.
"""

from decimal import Decimal

import pytest
from django_scopes import scope

from billing.models import PaymentProfile, TopUp
from podhub.workspaces.models import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
REFUSAL = "Only the owner or an admin can top up, save a card or change auto-recharge."


@pytest.fixture
def member(workspace):
    return MembershipFactory(workspace=workspace, role=Role.MEMBER,
                             user=UserFactory(email="member@acme.test"))


@pytest.fixture
def admin(workspace):
    return MembershipFactory(workspace=workspace, role=Role.ADMIN,
                             user=UserFactory(email="admin@acme.test"))


def sandbox_objects(sandbox, kind: str) -> list[dict]:
    with sandbox._lock:
        return [o for o in sandbox.objects.values() if o.get("object") == kind]


def test_a_member_sees_the_balance_but_no_card_controls(member, client_for):
    page = client_for(member).get("/balance/").content.decode()
    assert 'data-testid="balance-summary"' in page
    assert REFUSAL in page
    for control in ('data-testid="top-up-form"', 'data-testid="auto-recharge-form"',
                    "/balance/card/"):
        assert control not in page


def test_owner_and_admin_see_the_card_controls(owner, admin, client_for):
    for membership in (owner, admin):
        page = client_for(membership).get("/balance/").content.decode()
        assert 'data-testid="top-up-form"' in page
        assert 'data-testid="auto-recharge-form"' in page
        assert REFUSAL not in page


@pytest.mark.parametrize(("path", "form"), [
    ("/balance/top-up/", {"amount": "50"}),
    ("/balance/card/", {}),
    ("/balance/auto-recharge/", {"enabled": "on", "threshold": "20", "amount": "50"}),
])
def test_a_member_is_refused_in_the_dashboard_and_nothing_reaches_stripe(
        workspace, member, client_for, stripe_sandbox, path, form):
    client = client_for(member)
    resp = client.post(path, form, HTTP_REFERER="http://testserver/balance/")
    assert resp.status_code == 302 and resp["Location"] == "/balance/"
    assert REFUSAL in client.get("/balance/").content.decode()
    assert sandbox_objects(stripe_sandbox, "checkout.session") == []
    assert sandbox_objects(stripe_sandbox, "customer") == []
    with scope(workspace=workspace):
        assert not TopUp.objects.exists()
        assert not PaymentProfile.objects.filter(auto_recharge=True).exists()


def test_a_member_is_refused_in_the_api_with_403(workspace, member, api_client_for,
                                                 stripe_sandbox):
    api = api_client_for(member)
    top_up = api.post("/api/v1/balance/top-ups/", {"amount": "50"}, format="json")
    recharge = api.put("/api/v1/balance/auto-recharge/",
                       {"enabled": True, "threshold": "20", "amount": "50"}, format="json")
    for resp in (top_up, recharge):
        assert resp.status_code == 403
        assert resp.json() == {"error": {"code": "permission_denied", "message": REFUSAL}}
    # reading the settings is fine for every member
    read = api.get("/api/v1/balance/auto-recharge/")
    assert read.status_code == 200
    assert read.json()["enabled"] is False and read.json()["card"] is None
    assert sandbox_objects(stripe_sandbox, "checkout.session") == []
    with scope(workspace=workspace):
        assert not TopUp.objects.exists()


def test_an_admin_starts_a_top_up_through_the_api(workspace, admin, api_client_for,
                                                  stripe_sandbox):
    resp = api_client_for(admin).post("/api/v1/balance/top-ups/", {"amount": "75.50"},
                                      format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["amount"] == "75.50" and body["currency"] == "USD"
    assert body["status"] == "pending"
    [session] = sandbox_objects(stripe_sandbox, "checkout.session")
    assert body["checkout_url"] == session["url"] and session["amount_total"] == 7550


@pytest.mark.parametrize("amount", ["4.99", "10000.01", "0", "-50", "1e9"])
def test_a_top_up_outside_the_limits_is_refused(workspace, owner, api_client_for,
                                                client_for, stripe_sandbox, amount):
    resp = api_client_for(owner).post("/api/v1/balance/top-ups/", {"amount": amount},
                                      format="json")
    assert resp.status_code == 400, resp.content
    assert resp.json()["error"]["code"] == "invalid"
    page = client_for(owner)
    page.post("/balance/top-up/", {"amount": amount})
    assert "Top up between $5.00 and $10,000.00." in page.get("/balance/").content.decode()
    assert sandbox_objects(stripe_sandbox, "checkout.session") == []


def test_the_top_up_limits_are_settings(owner, api_client_for, stripe_sandbox, settings):
    settings.BILLING_TOP_UP_MAX = Decimal("100")
    api = api_client_for(owner)
    assert api.post("/api/v1/balance/top-ups/", {"amount": "100.01"},
                    format="json").status_code == 400
    assert api.post("/api/v1/balance/top-ups/", {"amount": "100"},
                    format="json").status_code == 201


@pytest.mark.parametrize(("threshold", "amount", "field", "message"), [
    ("50", "50", "threshold", "Set the threshold below the recharge amount"),
    ("80", "50", "threshold", "Set the threshold below the recharge amount"),
    ("5000.01", "9000", "threshold", "Set the threshold at most $5,000.00."),
    ("0", "50", "threshold", "Set the threshold above 0."),
    ("20", "10000.01", "recharge_amount", "Recharge between $5.00 and $10,000.00."),
    ("20", "4", "recharge_amount", "Recharge between $5.00 and $10,000.00."),
])
def test_auto_recharge_settings_outside_the_limits_are_refused(
        workspace, admin, api_client_for, threshold, amount, field, message):
    with scope(workspace=workspace):  # a saved card, so that only the amounts are wrong
        PaymentProfile.objects.create(workspace=workspace, payment_method_id="pm_1",
                                      stripe_customer_id="cus_1", card_last4="4242")
    resp = api_client_for(admin).put("/api/v1/balance/auto-recharge/", {
        "enabled": True, "threshold": threshold, "amount": amount}, format="json")
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["message"].startswith(message) and error["field"] == field
    with scope(workspace=workspace):
        assert PaymentProfile.objects.get().auto_recharge is False


def test_an_admin_turns_auto_recharge_on_through_the_api(workspace, admin, api_client_for):
    api = api_client_for(admin)
    no_card = api.put("/api/v1/balance/auto-recharge/",
                      {"enabled": True, "threshold": "20", "amount": "50"}, format="json")
    assert no_card.status_code == 409
    with scope(workspace=workspace):
        PaymentProfile.objects.filter(workspace=workspace).update(
            payment_method_id="pm_1", stripe_customer_id="cus_1", card_brand="visa",
            card_last4="4242")
    resp = api.put("/api/v1/balance/auto-recharge/",
                   {"enabled": True, "threshold": "20", "amount": "50"}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json() == {"enabled": True, "threshold": "20.00", "amount": "50.00",
                           "currency": "USD", "card": "visa 4242", "max_charges_per_day": 5,
                           "max_amount_per_day": "20000.00", "last_failure": ""}
