"""The "send a seller webhook" action: one entry in automation/actions.py's registry,
sending `order.rule_fired` through outbound webhooks (webhooks.services.publish) to the
endpoint the rule names, signed and verified by a real receiver with the Standard
Webhooks reference verifier (tests/webhooks/conftest.py)."""

import pytest
from django_scopes import scope

from automation.models import RuleFiring
from orders.events import OrderEvents
from podhub.core.exceptions import ValidationFailed
from tests.automation.conftest import line
from tests.webhooks.conftest import Receiver
from webhooks import services as webhooks
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def erp(workspace, owner, receiver):
    """The seller's ERP endpoint; it chose only `order.paid`: a rule sends to it anyway."""
    with scope(workspace=workspace):
        endpoint, secret = webhooks.endpoint_create(
            workspace=workspace, by=owner, url=receiver.hook_url,
            event_types=[OrderEvents.PAID], description="ERP")
    receiver.secret = secret
    return endpoint


def brazil_to_erp(endpoint_id):
    return {"name": "Brazil to the ERP", "trigger": "imported",
            "conditions": [{"field": "country", "op": "in", "value": ["BR"]}],
            "actions": [{"type": "send_webhook", "value": endpoint_id}]}


def test_a_rule_sends_a_signed_webhook_to_the_endpoint_it_names(
        workspace, store, catalog, make_rule, import_order, erp, receiver):
    rule = make_rule(**brazil_to_erp(erp.pk))

    order = import_order(workspace, store, line("MUG11-WHITE", 1), country="BR")
    import_order(workspace, store, line("MUG11-WHITE", 1), country="US")

    # the receiver verified one request, signed with the endpoint's secret
    assert receiver.refused == []
    [got] = receiver.verified
    assert got["payload"]["type"] == "order.rule_fired"
    assert got["payload"]["data"]["rule"] == {"id": rule.pk, "name": "Brazil to the ERP"}
    assert got["payload"]["data"]["order"]["id"] == order.pk
    with scope(workspace=workspace):
        assert WebhookDelivery.objects.filter(endpoint=erp).count() == 1
        firing = RuleFiring.objects.get(rule=rule, order=order)
    assert firing.changes == [{"action": "send_webhook",
                               "said": f"Sent order.rule_fired to {erp.url}."}]


def test_the_dry_run_sends_nothing(workspace, owner, store, catalog, make_rule, import_order,
                                   erp, receiver):
    from automation import services

    rule = make_rule(**{**brazil_to_erp(erp.pk), "enabled": False})
    import_order(workspace, store, line("MUG11-WHITE", 1), country="BR")
    with scope(workspace=workspace):
        result = services.dry_run(workspace=workspace, rule_id=rule.pk)
        assert WebhookDelivery.objects.count() == 0
    assert f"Would send order.rule_fired to {erp.url}." in str(result)
    assert receiver.verified == []


def test_an_unknown_endpoint_is_refused_naming_the_field(workspace, make_rule, erp):
    with pytest.raises(ValidationFailed) as caught:
        make_rule(**brazil_to_erp(erp.pk + 1000))
    assert "actions[0].value" in caught.value.detail["fields"]


def test_deleting_the_endpoint_disables_the_rule(workspace, owner, make_rule, erp):
    rule = make_rule(**brazil_to_erp(erp.pk))
    with scope(workspace=workspace):
        webhooks.endpoint_delete(workspace=workspace, by=owner, endpoint_id=erp.pk)
        rule.refresh_from_db()
    assert not rule.enabled
    assert rule.disabled_reason.startswith("It names a endpoint that was deleted")
