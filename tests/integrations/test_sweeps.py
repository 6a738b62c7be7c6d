"""Beat sweeps ring for rows a lost task left behind; doorbells are coalesced."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from integrations import tasks, webhooks
from integrations.models import ImportJob, InboundWebhook, OutboxMessage
from integrations.services.inbox import inbox_due
from integrations.services.outbox import order_events_missing, push_fulfillment
from orders.models import Order
from podhub.core import doorbell
from podhub.core.doorbell import answered
from tests.integrations.conftest import post_webhook

pytestmark = pytest.mark.django_db


def test_the_sweep_rings_for_lost_doorbells(connection, sandbox, workspace, webhook_client):
    post_webhook(webhook_client, "orders/create", sandbox.shop.create_order({}, webhooks=False))
    with scope(workspace=workspace):
        InboundWebhook.objects.update(created_at=timezone.now() - timedelta(minutes=5))
        ImportJob.objects.create(workspace=workspace, connection=connection)
    with mock.patch.object(tasks.inbox_drain_task, "delay") as drain, \
            mock.patch.object(tasks.import_job_task, "delay") as job:
        result = tasks.integrations_sweep_task()
    assert result["inbox"] == 1 and result["imports"] == 1
    drain.assert_called_once_with(workspace_id=workspace.pk, connection_id=connection.pk)
    assert job.call_count == 1
    with mock.patch.object(tasks.reconcile_store_task, "delay") as rec:
        assert tasks.reconcile_sweep_task() == 1
    rec.assert_called_once_with(workspace_id=workspace.pk, connection_id=connection.pk)


def test_the_drain_task_runs_in_the_workspace_scope(connection, sandbox, workspace,
                                                    webhook_client):
    post_webhook(webhook_client, "orders/create", sandbox.shop.create_order({}, webhooks=False))
    assert tasks.inbox_drain_task(workspace_id=workspace.pk, connection_id=connection.pk) == 1
    with scope(workspace=workspace):
        assert Order.objects.count() == 1
        assert inbox_due(now=timezone.now() + timedelta(hours=1)) == []


def test_due_outbox_messages_are_rung(connection, sandbox, workspace):
    remote = sandbox.shop.create_order({})
    sandbox.shop.deliver_due()
    with scope(workspace=workspace):
        tasks.inbox_drain_task(workspace_id=workspace.pk, connection_id=connection.pk)
        order = Order.objects.select_related("store").get(external_id=str(remote["id"]))
        msg = push_fulfillment(store=order.store, order=order, shipment_ref="S",
                               carrier="UPS", number="1Z", url="")
        OutboxMessage.objects.filter(pk=msg.pk).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1))
    with mock.patch.object(tasks.outbox_deliver_task, "delay") as deliver:
        assert tasks.integrations_sweep_task()["outbox"] == 1
        deliver.assert_called_once_with(workspace_id=workspace.pk, message_id=msg.pk)
        # workers far behind: the ring still waits in the queue, so the next ticks do
        # not queue the message again (the fault drill's queue grew by thousands so)
        tasks.integrations_sweep_task()
        tasks.integrations_sweep_task()
        assert deliver.call_count == 1
        # the task started (and failed, say): the next tick rings again
        answered(f"outbox:{msg.pk}")
        tasks.integrations_sweep_task()
        assert deliver.call_count == 2
        # a ring lost with the broker is rung again once its key has expired
        with mock.patch.object(doorbell.cache, "add", return_value=True):
            tasks.integrations_sweep_task()
        assert deliver.call_count == 3


def test_doorbells_are_coalesced_with_a_trailing_ring():
    with mock.patch.object(webhooks, "_send_ring") as send, \
            mock.patch.object(webhooks.threading, "Timer") as timer:
        for _ in range(50):
            webhooks._ring(1, 42)
        assert send.call_count == 1  # one ring for the burst
        assert timer.call_count == 1  # and one trailing ring scheduled
        delay, fn, args = timer.call_args.args
        assert 0 < delay <= webhooks.RING_WINDOW
        fn(*args)  # the timer fires
        assert send.call_count == 2
        webhooks._ring(1, 43)  # another store rings at once
        assert send.call_count == 3


def test_order_panel_and_store_list(connection, sandbox, workspace, client_for, owner):
    remote = sandbox.shop.create_order({"financial_status": "pending"})
    sandbox.shop.deliver_due()
    with scope(workspace=workspace):
        tasks.inbox_drain_task(workspace_id=workspace.pk, connection_id=connection.pk)
        order = Order.objects.get(external_id=str(remote["id"]))
    c = client_for(owner)
    html = c.get(f"/stores/orders/{order.pk}/sync/").content.decode()
    assert "waiting for the buyer's payment in the store" in html
    html = c.get("/stores/").content.decode()
    assert "Sandbox Shopify store" in html and connection.shop_domain in html


def test_a_lost_loss_guard_doorbell_is_found_by_the_sweep(connection, sandbox, workspace):
    from orders import services as order_services
    from orders.events import Actor

    remote = sandbox.shop.create_order({})
    sandbox.shop.deliver_due()
    with scope(workspace=workspace):
        tasks.inbox_drain_task(workspace_id=workspace.pk, connection_id=connection.pk)
        order = Order.objects.get(external_id=str(remote["id"]))
        order_services.order_cancel(order_id=order.pk, reason="loss_guard",
                                    actor=Actor.system("Loss guard"))
    with mock.patch.object(tasks.order_event_task, "delay") as ring:
        assert tasks.integrations_sweep_task()["events"] == 1
        tasks.integrations_sweep_task()  # its ring still waits: not rung twice
    (kwargs,) = [c.kwargs for c in ring.call_args_list]
    tasks.order_event_task(**kwargs)
    with scope(workspace=workspace):
        assert OutboxMessage.objects.filter(kind="order_cancel").count() == 1
    with mock.patch.object(tasks.order_event_task, "delay"):
        assert tasks.integrations_sweep_task()["events"] == 0


def test_old_processed_deliveries_are_pruned(connection, sandbox, workspace, webhook_client):
    post_webhook(webhook_client, "orders/create", sandbox.shop.create_order({}, webhooks=False))
    post_webhook(webhook_client, "orders/create", b'{"line_items": []}')  # no order id
    with scope(workspace=workspace):
        tasks.inbox_drain_task(workspace_id=workspace.pk, connection_id=connection.pk)
        InboundWebhook.objects.update(created_at=timezone.now() - timedelta(days=31))
    with mock.patch.object(tasks.inbox_drain_task, "delay"):
        assert tasks.integrations_sweep_task()["pruned"] == 1
    with scope(workspace=workspace):
        assert list(InboundWebhook.objects.values_list("status", flat=True)) == ["failed"]


def test_the_sweep_reads_every_recent_event_not_only_the_oldest_chunk(connection, sandbox,
                                                                      workspace):
    """A busy store has more pushed events in two days than one read takes: a newer one
    whose doorbell was lost is still found."""
    from orders import services as order_services
    from orders.events import Actor

    made = []
    for _ in range(3):
        made.append(sandbox.shop.create_order({}))
    sandbox.shop.deliver_due()
    with scope(workspace=workspace):
        tasks.inbox_drain_task(workspace_id=workspace.pk, connection_id=connection.pk)
        orders = list(Order.objects.filter(
            external_id__in=[str(r["id"]) for r in made]).order_by("pk"))
        for order in orders:
            order_services.order_cancel(order_id=order.pk, reason="loss_guard",
                                        actor=Actor.system("Loss guard"))
        events = [o.events.get(type="order.cancelled").pk for o in orders]
        for event in events[:2]:  # pushed; the last one's doorbell was lost
            tasks.order_event_task(workspace_id=workspace.pk, event_id=event)
    with scopes_disabled():  # as the sweep runs
        assert order_events_missing(chunk=1) == [(workspace.pk, events[2])]
        assert order_events_missing(chunk=1, budget_seconds=0) == []  # its budget spent
        assert order_events_missing(chunk=2) == [(workspace.pk, events[2])]
