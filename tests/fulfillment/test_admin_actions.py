"""Staff's admin actions on renders, provider connections, submissions and provider
webhooks: each calls a fulfillment service (docs/architecture.md, "admin actions call
services") and does what its label says."""

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from fulfillment import submission
from fulfillment.models import (
    ProviderConnection,
    ProviderWebhook,
    RenderStatus,
    Shipment,
    Submission,
    SubmissionStatus,
)
from fulfillment.printfiles import services as printfiles
from fulfillment.providers import CredentialsRejected, client_for, record_problem
from tests.fulfillment import fulfillment_support as support
from tests.fulfillment.fulfillment_support import NOW, make_order, make_variant
from tests.fulfillment.test_shipments import _post

factory_server = support.factory_server
sandbox_provider = support.sandbox_provider
webhook_client = support.webhook_client


def _act(admin_client, model: str, action: str, *ids):
    response = admin_client.post(f"/admin/fulfillment/{model}/", {
        "action": action, ACTION_CHECKBOX_NAME: list(ids)})
    assert response.status_code == 302, response.content
    return response


def test_retry_sends_a_failed_render_again(workspace, order, line, template, monkeypatch,
                                           sent_tasks, admin_client):
    def boom(line):
        raise RuntimeError("disk full")

    monkeypatch.setattr(printfiles, "_render_line", boom)
    with scope(workspace=workspace):
        [job] = printfiles.render_request(order_id=order.pk, workspace=workspace)
        assert [printfiles.render_run(render_id=job.pk) for _ in range(3)] == [
            "retry", "retry", "failed"]
    # when staff retry it
    _act(admin_client, "render", "retry", job.pk)
    # then it waits again with its attempts reset (the render sweep sends it)
    with scope(workspace=workspace):
        job.refresh_from_db()
        assert (job.status, job.attempts) == (RenderStatus.PENDING, 0)


def test_try_again_lets_calls_go_to_a_refused_connection(db, sandbox_provider, admin_client):
    connection = ProviderConnection.objects.get(provider=sandbox_provider)
    record_problem(connection.pk, "The key was refused (401)")
    connection.refresh_from_db()
    with pytest.raises(CredentialsRejected):
        client_for(sandbox_provider, connection=connection)
    # when staff try it again
    _act(admin_client, "providerconnection", "try_again", connection.pk)
    connection.refresh_from_db()
    assert (connection.problem, connection.problem_at) == ("", None)
    client = client_for(sandbox_provider, connection=connection)  # calls may go again
    assert client.api_key == connection.api_key.reveal()


def test_send_now_sends_a_submission_waiting_for_its_retry(workspace, sandbox_provider,
                                                           factory_server, admin_client):
    factory_server.factory.config.down = True
    order = make_order(workspace, [make_variant("MUG", [(sandbox_provider, "4.00")])])
    submission.submit_sweep(now=NOW)
    with scope(workspace=workspace):
        sub = Submission.objects.get(order=order)
    assert sub.status == SubmissionStatus.PENDING
    # the factory is back, but the retry is an hour away
    factory_server.factory.config.down = False
    with scopes_disabled():
        Submission.objects.filter(pk=sub.pk).update(
            next_attempt_at=timezone.now() + timedelta(hours=1))
    # when staff send it now
    _act(admin_client, "submission", "send_now", sub.pk)
    with scope(workspace=workspace):
        sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED


def test_process_again_applies_a_delivery_ignored_before(workspace, sandbox_provider,
                                                         factory_server, webhook_client,
                                                         admin_client):
    order = make_order(workspace, [make_variant("MUG", [(sandbox_provider, "4.00")])])
    submission.submit_sweep(now=NOW)
    with scope(workspace=workspace):
        sub = Submission.objects.get(order=order)
    # a parcel reported under the provider's order id only, before PodHub recorded it
    event = {"id": "e-early", "type": "shipment_shipped", "data": {
        "order": {"id": "SF-EARLY", "external_id": "", "status": "shipped"},
        "shipment": {"id": "P1", "carrier": "USPS", "tracking_number": "9400111",
                     "status": "shipped"}}}
    assert _post(webhook_client, event).status_code == 200
    row = ProviderWebhook.objects.get(event_key="e-early")
    assert row.result == "ignored" and "unknown order" in row.reason
    # once the provider's id is known, staff process it again
    with scopes_disabled():
        Submission.objects.filter(pk=sub.pk).update(external_id="SF-EARLY")
    _act(admin_client, "providerwebhook", "reprocess", row.pk)
    row.refresh_from_db()
    assert row.result == "applied"
    with scopes_disabled():
        assert Shipment.objects.filter(order=order, tracking_number="9400111").exists()
