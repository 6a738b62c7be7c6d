"""/api/v1/rules/: CRUD, 400 naming the field, roles, dry run, apply to existing orders."""

import pytest
from django_scopes import scope

from automation.models import ApplyJob, Rule
from orders.models import OrderState
from podhub.workspaces.models import Role
from tests.automation.conftest import line
from tests.factories import MembershipFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

BRAZIL = {
    "name": "Brazil over 200 USD", "trigger": "imported",
    "conditions": [{"field": "country", "op": "in", "value": ["BR"]},
                   {"field": "total", "op": "gt", "value": "200"}],
    "actions": [{"type": "hold", "value": "Check it."}],
}


@pytest.fixture
def api(owner, api_client_for):
    return api_client_for(owner)


def test_create_list_update_delete(api, workspace):
    resp = api.post("/api/v1/rules/", BRAZIL, format="json")
    assert resp.status_code == 201, resp.content
    rule = resp.json()
    assert rule["conditions"][0] == {"field": "country", "op": "in", "value": ["BR"]}
    assert rule["position"] == 0 and rule["enabled"] is True
    second = api.post("/api/v1/rules/", {**BRAZIL, "name": "Second"}, format="json").json()
    assert [r["name"] for r in api.get("/api/v1/rules/").json()["results"]] == \
        ["Brazil over 200 USD", "Second"]
    resp = api.patch(f"/api/v1/rules/{rule['id']}/", {"enabled": False}, format="json")
    assert resp.status_code == 200 and resp.json()["enabled"] is False
    assert api.get(f"/api/v1/rules/{second['id']}/").json()["name"] == "Second"
    assert api.delete(f"/api/v1/rules/{rule['id']}/").status_code == 204
    assert api.get(f"/api/v1/rules/{rule['id']}/").status_code == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"conditions": [{"field": "planet", "value": "x"}]}, "conditions[0].field"),
    ({"conditions": [{"field": "total", "op": "gt", "value": "lots"}]}, "conditions[0].value"),
    ({"conditions": [{"field": "country", "op": "near", "value": "BR"}]}, "conditions[0].op"),
    ({"conditions": [{"field": "quantity", "op": "gt", "value": 1.5}]}, "conditions[0].value"),
    ({"conditions": [{"field": "store", "op": "is", "value": 999999}]}, "conditions[0].value"),
    ({"actions": [{"type": "explode"}]}, "actions[0].type"),
    ({"actions": [{"type": "route", "value": "abc"}]}, "actions[0].value"),
    ({"actions": [{"type": "set_shipping_method", "value": "teleport"}]}, "actions[0].value"),
    ({"actions": [{"type": "auto_pay", "value": "NaN"}]}, "actions[0].value"),
    ({"actions": []}, "actions"),
    ({"trigger": "whenever"}, "trigger"),
    ({"name": ""}, "name"),
    ({"trigger": "paid", "actions": [{"type": "skip_import"}]}, "trigger"),
])
def test_an_invalid_rule_is_a_400_naming_the_field(api, change, field):
    resp = api.post("/api/v1/rules/", {**BRAZIL, **change}, format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json()["error"]["fields"], resp.json()


def test_a_store_of_another_workspace_is_no_such_store(api, other_workspace):
    theirs = StoreFactory(workspace=other_workspace)
    resp = api.post("/api/v1/rules/", {**BRAZIL, "conditions": [
        {"field": "store", "op": "is", "value": theirs.pk}]}, format="json")
    assert resp.status_code == 400
    assert resp.json()["error"]["fields"]["conditions[0].value"] == \
        "No such store in this workspace."


def test_members_read_but_only_owners_and_admins_change(workspace, api, api_client_for):
    rule = api.post("/api/v1/rules/", BRAZIL, format="json").json()
    member = api_client_for(MembershipFactory(workspace=workspace, role=Role.MEMBER,
                                              user=UserFactory(email="m@acme.test")))
    assert member.get("/api/v1/rules/").status_code == 200
    assert member.post("/api/v1/rules/", BRAZIL, format="json").status_code == 403
    assert member.patch(f"/api/v1/rules/{rule['id']}/", {"enabled": False},
                        format="json").status_code == 403
    assert member.post(f"/api/v1/rules/{rule['id']}/apply/", {}, format="json"
                       ).status_code == 403


def test_dry_run_changes_nothing(api, workspace, store, catalog, import_order):
    big = import_order(workspace, store, line("MUG11-WHITE", 1, "250.00"), country="BR")
    import_order(workspace, store, line("MUG11-WHITE", 1, "250.00"), country="US")
    rule = api.post("/api/v1/rules/", BRAZIL, format="json").json()
    resp = api.post(f"/api/v1/rules/{rule['id']}/dry-run/", {"limit": 10}, format="json")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["tried"] == 10
    assert body["matches"] == [{
        "order_id": big.pk, "number": big.number, "state": OrderState.TO_ORDER,
        "matched": ["Ship-to country is one of BR", "Order total (order currency) is more "
                    "than 200"],
        "would": ["Would hold the order: Check it."]}]
    with scope(workspace=workspace):
        big.refresh_from_db()
    assert big.state == OrderState.TO_ORDER
    assert api.post(f"/api/v1/rules/{rule['id']}/dry-run/", {"limit": 0},
                    format="json").status_code == 400


def test_apply_makes_a_job_with_progress(api, workspace, store, catalog, import_order,
                                         django_capture_on_commit_callbacks):
    from automation import services

    big = import_order(workspace, store, line("MUG11-WHITE", 1, "250.00"), country="BR")
    rule = api.post("/api/v1/rules/", BRAZIL, format="json").json()
    resp = api.post(f"/api/v1/rules/{rule['id']}/apply/", {"state": "to_order"}, format="json")
    assert resp.status_code == 202, resp.content
    job = resp.json()
    assert (job["status"], job["total"], job["done"]) == ("pending", 1, 0)
    with scope(workspace=workspace), django_capture_on_commit_callbacks(execute=True):
        services.apply_process(job_id=job["id"])
    done = api.get(f"/api/v1/rules/{rule['id']}/apply/{job['id']}/").json()
    assert (done["status"], done["done"], done["matched"], done["percent"]) == \
        ("done", 1, 1, 100)
    with scope(workspace=workspace):
        big.refresh_from_db()
        assert ApplyJob.objects.count() == 1
    assert big.state == OrderState.ON_HOLD
    bad = api.post(f"/api/v1/rules/{rule['id']}/apply/", {"state": "limbo"}, format="json")
    assert bad.status_code == 400 and "state" in bad.json()["error"]["fields"]


def test_enabling_a_rule_whose_store_is_gone_is_refused(api, workspace):
    store = StoreFactory(workspace=workspace)
    rule = api.post("/api/v1/rules/", {**BRAZIL, "enabled": False, "conditions": [
        {"field": "store", "op": "is", "value": store.pk}]}, format="json").json()
    with scope(workspace=workspace):
        store.delete()
    resp = api.patch(f"/api/v1/rules/{rule['id']}/", {"enabled": True}, format="json")
    assert resp.status_code == 400
    assert "store" in resp.json()["error"]["fields"]["enabled"]
    with scope(workspace=workspace):
        assert Rule.objects.get(pk=rule["id"]).enabled is False


def test_the_schema_documents_the_rules_api(api):
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ("/api/v1/rules/", "/api/v1/rules/{rule_id}/dry-run/",
                 "/api/v1/rules/{rule_id}/apply/"):
        assert path in schema
