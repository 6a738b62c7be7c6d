"""The Rules pages: build a rule with the form, errors next to the row, order, enable,
dry run, apply with progress, a member sees but cannot change."""

import pytest
from django_scopes import scope

from automation.models import Rule
from podhub.workspaces.models import Role
from tests.automation.conftest import line
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

FORM = {
    "name": "Brazil over 200 USD", "trigger": "imported", "match": "all", "enabled": "on",
    "c-0-field": "country", "c-0-op": "in", "c-0-value": "BR",
    "c-1-field": "total", "c-1-op": "gt", "c-1-value": "200",
    "a-0-type": "hold", "a-0-value": "Check it.",
}


@pytest.fixture
def dash(owner, client_for):
    return client_for(owner)


def test_build_a_rule_with_the_form(dash, workspace):
    resp = dash.post("/rules/new/", FORM)
    assert resp.status_code == 302
    with scope(workspace=workspace):
        rule = Rule.objects.get()
    assert rule.conditions == [{"field": "country", "op": "in", "value": ["BR"]},
                               {"field": "total", "op": "gt", "value": "200"}]
    assert rule.actions == [{"type": "hold", "value": "Check it."}]
    page = dash.get("/rules/").content.decode()
    assert "Brazil over 200 USD" in page and "Ship-to country is one of BR" in page
    edit = dash.get(f"/rules/{rule.pk}/").content.decode()
    assert 'value="BR"' in edit and 'name="c-2-field"' in edit  # one blank row more


def test_a_wrong_value_is_shown_next_to_its_row(dash, workspace):
    resp = dash.post("/rules/new/", {**FORM, "c-0-field": "", "c-1-value": "lots"})
    assert resp.status_code == 400
    body = resp.content.decode()
    assert "Enter an amount (e.g. 200 or 19.99)." in body
    assert 'value="lots"' in body  # nothing the seller typed is lost
    with scope(workspace=workspace):
        assert not Rule.objects.exists()


def test_add_a_row_with_htmx(dash):
    resp = dash.get("/rules/row/?kind=action&i=3", HTTP_HX_REQUEST="true")
    body = resp.content.decode()
    assert 'name="a-3-type"' in body and "i=4" in body
    assert dash.get("/rules/row/?kind=nope").status_code in (302, 400)


def test_move_enable_delete(dash, workspace):
    for name in ("One", "Two"):
        dash.post("/rules/new/", {**FORM, "name": name})
    with scope(workspace=workspace):
        one, two = Rule.objects.order_by("position")
    dash.post(f"/rules/{two.pk}/move/", {"direction": "up"})
    dash.post(f"/rules/{one.pk}/toggle/")
    with scope(workspace=workspace):
        assert list(Rule.objects.order_by("position").values_list("name", "enabled")) == \
            [("Two", True), ("One", False)]
    dash.post(f"/rules/{one.pk}/delete/")
    with scope(workspace=workspace):
        assert list(Rule.objects.values_list("name", flat=True)) == ["Two"]


def test_dry_run_and_apply_with_progress(dash, workspace, store, catalog, import_order,
                                         django_capture_on_commit_callbacks):
    from automation import services

    big = import_order(workspace, store, line("MUG11-WHITE", 1, "250.00"), country="BR")
    dash.post("/rules/new/", FORM)
    with scope(workspace=workspace):
        rule = Rule.objects.get()
    dry = dash.post(f"/rules/{rule.pk}/dry-run/", {"limit": "50"}, HTTP_HX_REQUEST="true")
    body = dry.content.decode()
    assert big.number in body and "Would hold the order: Check it." in body
    resp = dash.post(f"/rules/{rule.pk}/apply/", {"state": ""}, HTTP_HX_REQUEST="true")
    body = resp.content.decode()
    assert 'data-status="pending"' in body and 'hx-trigger="every 1s"' in body
    with scope(workspace=workspace):
        job = rule.jobs.get()
        with django_capture_on_commit_callbacks(execute=True):
            services.apply_process(job_id=job.pk)
    body = dash.get(f"/rules/{rule.pk}/apply/{job.pk}/").content.decode()
    assert 'data-status="done"' in body and "every 1s" not in body
    order_page = dash.get(f"/orders/{big.pk}/").content.decode()
    assert "Auto: rule Brazil over 200 USD" in order_page


def test_a_member_sees_rules_but_cannot_change_them(workspace, client_for, dash):
    dash.post("/rules/new/", FORM)
    member = client_for(MembershipFactory(workspace=workspace, role=Role.MEMBER,
                                          user=UserFactory(email="m@acme.test")))
    page = member.get("/rules/").content.decode()
    assert "Brazil over 200 USD" in page and "New rule" not in page
    member.post("/rules/new/", {**FORM, "name": "Sneaky"})
    with scope(workspace=workspace):
        assert list(Rule.objects.values_list("name", flat=True)) == ["Brazil over 200 USD"]
