"""Order events reach their subscribers, and e-mails leave, only after commit, through
the real broker; the e-mail outbox sends each mail once and re-sends what was lost.

The test settings run follow-ups in-process right after commit
(`PODHUB_FOLLOW_UPS_EAGER`, podhub/celery.py) so that other tests see their effect;
here that is switched off, and the messages go to the test Redis as in production: a
worker thread (tests/live.py) takes them, or the test reads the queue itself.
Transactions are real (`transaction=True`): on-commit callbacks run at COMMIT.
"""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import transaction
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from orders import events, services
from orders.events import Actor, OrderEvents, UnknownEvent
from orders.models import OrderEvent
from podhub.celery import app
from podhub.core import doorbell, mail
from podhub.core.models import EmailStatus, OutgoingEmail
from quotes.models import Quote
from tests.factories import OrderFactory, StoreFactory, WorkspaceFactory
from tests.live import wait_for, worker  # noqa: F401 - the real worker fixture

pytestmark = pytest.mark.django_db(transaction=True)

STORE = Actor.store("test store")


class Broker:
    """The test Redis broker's default queue, read with kombu as a worker would."""

    def take(self) -> list[tuple[str, dict]]:
        """Every message waiting in the queue, as (task name, kwargs); removes them."""
        taken = []
        with app.connection_for_read() as conn:
            queue = conn.SimpleQueue(app.conf.task_default_queue)
            try:
                while True:
                    try:
                        message = queue.get(block=False)
                    except queue.Empty:
                        break
                    taken.append((message.headers["task"], message.payload[1]))
                    message.ack()
            finally:
                queue.close()
        return taken

    def run(self, name: str, kwargs: dict):
        """What a worker does with a message: the task's body."""
        return app.tasks[name].apply(kwargs=kwargs, throw=True).get()


@pytest.fixture
def broker(settings):
    settings.PODHUB_FOLLOW_UPS_EAGER = False
    b = Broker()
    b.take()  # nothing left from an earlier test of this xdist worker
    return b


@pytest.fixture
def store(workspace):
    return StoreFactory(workspace=workspace, name="Acme Shopify", currency="USD")


def order_data(n: int = 1) -> dict:
    """A store order of a product the catalog does not know (pricing asks for a quote)."""
    return {
        "external_id": f"ext-{n}", "number": f"#{1000 + n}", "buyer_email": "ana@example.com",
        "shipping_address": {"name": "Ana Lima", "address1": "1 Main St",
                             "city": "Springfield", "zip": "62701", "country_code": "US"},
        "line_items": [{"external_id": f"li-{n}", "sku": "PLQ-S", "title": "Oak plaque",
                        "variant_title": "Small", "store_product_id": "900",
                        "store_variant_id": "9S", "quantity": 1, "unit_price": "30.00"}],
    }


# --- events reach their subscribers ---------------------------------------------------


def test_an_imported_order_is_priced_by_a_worker_through_the_broker(
        broker, worker, workspace, store):  # noqa: F811 - the fixture imported above
    # when a store order is imported (quotes subscribed order_evaluate_task to it)
    with scope(workspace=workspace):
        order, created = services.order_import(workspace=workspace, store=store,
                                               data=order_data(), actor=STORE)
    assert created
    # then a worker, woken through Redis, mapped it: its unknown product waits for a quote
    with scopes_disabled():
        quote = wait_for(lambda: Quote.objects.filter(workspace=workspace,
                                                      product_key="p:900").first(),
                         what="the quote the worker requests")
        assert quote.lines.count() == 1
        assert OrderEvent.objects.filter(order=order,
                                         type=OrderEvents.QUOTE_REQUESTED).exists()


def test_each_subscription_gets_the_event_after_commit_and_a_rollback_sends_nothing(
        broker, workspace, store, mailoutbox):
    # given a change that writes an order event and an e-mail, then rolls back
    def failing_request():
        with transaction.atomic():
            services.order_import(workspace=workspace, store=store, data=order_data(),
                                  actor=STORE)
            mail.send(to=["owner@acme.test"], subject="Imported", body="One order.",
                      workspace_id=workspace.pk)
            raise RuntimeError("the request failed")

    with scope(workspace=workspace), pytest.raises(RuntimeError):
        failing_request()
    # then no task reached the broker and no e-mail exists, let alone left
    assert broker.take() == []
    with scopes_disabled():
        assert not OrderEvent.objects.exists()
    assert not OutgoingEmail.objects.exists()
    assert mailoutbox == []

    # when the same change commits (no doorbell left waiting by an earlier test; the
    # workspace has an "order imported" rule, so the rules task is rung too)
    cache.delete(f"{doorbell.PREFIX}webhooks:fanout:{workspace.pk}")
    _rule(workspace, "imported")
    with scope(workspace=workspace), transaction.atomic():
        order, _ = services.order_import(workspace=workspace, store=store, data=order_data(),
                                         actor=STORE)
        email = mail.send(to=["owner@acme.test"], subject="Imported", body="One order.",
                          workspace_id=workspace.pk)
        # nothing leaves before COMMIT
        assert broker.take() == []
    # then every subscription of order.imported got it, with the event's ids
    with scopes_disabled():
        event = OrderEvent.objects.get(order=order, type=OrderEvents.IMPORTED)
    sent = broker.take()
    about_event = {"workspace_id": workspace.pk, "event_id": event.pk,
                   "type": "order.imported"}
    subscribed = sorted(sub.task.name for sub in events.subscriptions()
                        if sub.wants("order.imported") and not sub.coalesce)
    assert subscribed == ["automation.tasks.rules_for_event_task",
                          "billing.tasks.auto_pay_task",
                          "fulfillment.tasks.render_for_event_task",
                          "quotes.tasks.order_evaluate_task"]
    assert sorted((name, kw) for name, kw in sent if kw.get("event_id") == event.pk) \
        == [(name, about_event) for name in subscribed]
    # and the coalesced one (outbound webhooks' fan-out) with the workspace's id only
    assert ("webhooks.tasks.order_events_fanout_task", {"workspace_id": workspace.pk}) in sent
    # and the e-mail's task, not the e-mail: SMTP is the worker's business
    assert ("podhub.core.tasks.email_send_task", {"email_id": email.pk}) in sent
    assert mailoutbox == []


def _rule(workspace, trigger):
    from automation.models import Rule

    with scopes_disabled():
        return Rule.objects.create(workspace=workspace, name="Tag", trigger=trigger,
                                   actions=[{"type": "tag", "value": "x"}])


def test_the_rules_task_is_rung_only_where_a_rule_of_the_trigger_is_enabled(broker,
                                                                             workspace):
    (order,) = _orders(workspace, 1)
    rules_task = "automation.tasks.rules_for_event_task"

    def rung(type):
        with scope(workspace=workspace), transaction.atomic():
            services.record_event(order=order, type=type, actor=STORE)
        return [kw["type"] for name, kw in broker.take() if name == rules_task]

    # given no rule: an order event rings no rules task
    assert rung(OrderEvents.PAID) == []
    # when a "paid" rule is enabled, a paid event rings it; a cancel still does not
    rule = _rule(workspace, "paid")
    assert rung(OrderEvents.PAID) == ["order.paid"]
    assert rung(OrderEvents.CANCELLED) == []
    # and once the rule is disabled (saved) or deleted, it rings nothing again
    with scopes_disabled():
        rule.enabled = False
        rule.save()
    assert rung(OrderEvents.PAID) == []
    with scopes_disabled():
        rule.enabled = True
        rule.save()
    assert rung(OrderEvents.PAID) == ["order.paid"]
    with scopes_disabled():
        rule.delete()
    assert rung(OrderEvents.PAID) == []


def _orders(workspace, n):
    with scopes_disabled():
        store = StoreFactory(workspace=workspace)
        return [OrderFactory(workspace=workspace, store=store) for _ in range(n)]


def test_a_coalesced_subscription_rings_once_per_workspace_for_a_burst(broker, workspace):
    other = WorkspaceFactory(name="Other Co")
    burst = {workspace.pk: _orders(workspace, 12), other.pk: _orders(other, 5)}
    coalesced = [s for s in events.subscriptions() if s.coalesce and s.wants("order.submitted")]
    # billing's charge sync, integrations' "in production" notes, webhooks' fan-out
    assert {s.task.name for s in coalesced} == {"billing.tasks.order_charges_sync_task",
                                               "integrations.tasks.order_events_push_task",
                                               "webhooks.tasks.order_events_fanout_task"}
    for sub in coalesced:
        for ws_id in burst:
            cache.delete(f"{doorbell.PREFIX}{sub.coalesce}:{ws_id}")

    # given a submit that rolled back: it rang nothing, and silences nothing
    def rolled_back():
        with transaction.atomic():
            services.record_event(order=burst[workspace.pk][0], type=OrderEvents.SUBMITTED,
                                  actor=STORE)
            raise RuntimeError("the sweep's transaction failed")

    with scope(workspace=workspace), pytest.raises(RuntimeError):
        rolled_back()
    assert broker.take() == []
    # when 17 orders are submitted, one commit at a time (as the submit sweep does) and
    # some in one commit
    for orders in burst.values():
        with scope(workspace=orders[0].workspace):
            for order in orders[:3]:
                services.record_event(order=order, type=OrderEvents.SUBMITTED, actor=STORE)
            with transaction.atomic():
                services.record_events([services.NewEvent(
                    order=o, type=OrderEvents.SUBMITTED, actor=STORE) for o in orders[3:]])
    # then each coalesced task was sent once per workspace, with only its id
    sent = broker.take()
    for sub in coalesced:
        assert sorted(kw["workspace_id"] for name, kw in sent if name == sub.task.name) \
            == sorted(burst)
        assert all(kw == {"workspace_id": kw["workspace_id"]}
                   for name, kw in sent if name == sub.task.name)
    # and the task, run, answers the doorbell: the next event rings again
    billing = next(s for s in coalesced if "billing" in s.task.name)
    broker.run(billing.task.name, {"workspace_id": workspace.pk})
    with scope(workspace=workspace):
        services.record_event(order=burst[workspace.pk][0], type=OrderEvents.SHIPPED,
                              actor=STORE)
    assert (billing.task.name, {"workspace_id": workspace.pk}) in broker.take()


def test_an_unknown_event_type_is_refused(broker, workspace):
    (order,) = _orders(workspace, 1)
    with scope(workspace=workspace):
        with pytest.raises(UnknownEvent, match="'order.shiped' is not an order event"):
            services.record_event(order=order, type="order.shiped", actor=STORE)
        with pytest.raises(UnknownEvent):
            services.record_events([services.NewEvent(order=order, type="order.shipped",
                                                      actor=STORE),
                                    services.NewEvent(order=order, type="shipped",
                                                      actor=STORE)])
        assert not OrderEvent.objects.exists()
    with pytest.raises(UnknownEvent):
        events.subscribe(task=app.tasks["quotes.tasks.order_evaluate_task"],
                         types={"order.shiped"})
    assert broker.take() == []


# --- the e-mail outbox -------------------------------------------------------------


def _committed_mail(**kw) -> OutgoingEmail:
    with transaction.atomic():
        return mail.send(to=["owner@acme.test"], subject="Order #1001 is on hold",
                         body="It needs your answer.", **kw)


def test_a_lost_send_is_sent_by_the_sweep_and_never_twice(broker, mailoutbox):
    # given an e-mail whose task the broker lost
    email = _committed_mail()
    assert broker.take() == [("podhub.core.tasks.email_send_task", {"email_id": email.pk})]
    # then the sweep leaves a fresh one to its task, and sends it again once it is late
    assert mail.email_sweep() == 0
    assert mail.email_sweep(now=timezone.now() + timedelta(minutes=1)) == 1
    (again,) = broker.take()
    assert again == ("podhub.core.tasks.email_send_task", {"email_id": email.pk})
    assert broker.run(*again) == EmailStatus.SENT
    assert [(m.to, m.subject) for m in mailoutbox] == [(["owner@acme.test"],
                                                       "Order #1001 is on hold")]
    # when the message is delivered again (acks_late) and the sweep runs later
    assert broker.run(*again) is None
    assert mail.email_sweep(now=timezone.now() + timedelta(days=1)) == 0
    # then it was still sent once
    assert len(mailoutbox) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == (EmailStatus.SENT, 1)


class SlowSmtp(LocmemBackend):
    """While the first worker is still talking to the SMTP server, a second delivery of
    the task and the sweep both try the same e-mail."""

    meanwhile: list = []

    def send_messages(self, messages):
        for email_id in OutgoingEmail.objects.values_list("pk", flat=True):
            self.meanwhile.append((mail.send_now(email_id=email_id),
                                   mail.email_sweep(now=timezone.now() + timedelta(minutes=5))))
        return super().send_messages(messages)


def test_an_email_being_sent_is_not_sent_again_meanwhile(broker, settings, mailoutbox):
    settings.EMAIL_BACKEND = f"{__name__}.SlowSmtp"
    SlowSmtp.meanwhile = []
    email = _committed_mail()
    assert mail.send_now(email_id=email.pk) == EmailStatus.SENT
    # the second delivery found nothing to send, the sweep nothing due
    assert SlowSmtp.meanwhile == [(None, 0)]
    assert len(mailoutbox) == 1


class RefusingSmtp(LocmemBackend):
    def send_messages(self, messages):
        raise ConnectionRefusedError(111, "Connection refused")


def test_a_refused_send_is_retried_later_and_given_up_with_its_reason(
        broker, settings, mailoutbox):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingSmtp"
    email = _committed_mail(workspace_id=None)
    now = timezone.now()
    assert mail.send_now(email_id=email.pk, now=now) == EmailStatus.PENDING
    email.refresh_from_db()
    assert "Connection refused" in email.last_error
    assert email.next_attempt_at > now  # backoff: not due again at once
    assert mail.send_now(email_id=email.pk, now=now) is None
    for _ in range(mail.MAX_ATTEMPTS - 1):
        email.refresh_from_db()
        now = email.next_attempt_at
        mail.send_now(email_id=email.pk, now=now)
    email.refresh_from_db()
    assert (email.status, email.attempts) == (EmailStatus.FAILED, mail.MAX_ATTEMPTS)
    assert mail.email_sweep(now=now + timedelta(days=30)) == 0
    # when the server is back, a failed e-mail is not sent behind anyone's back
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert mail.send_now(email_id=email.pk, now=now + timedelta(days=30)) is None
    assert mailoutbox == []


def _own_product(n: int) -> dict:
    """order_data(n) of a product of its own (each order asks for its own quote)."""
    data = order_data(n)
    data["line_items"] = [{**data["line_items"][0], "store_product_id": f"90{n}"}]
    return data


def test_a_bulk_import_batch_rings_each_subscription_once_and_every_event_is_handled(
        broker, workspace, store, monkeypatch):
    """orders_import (a bulk import's batch): one message per subscription for the
    batch's order.imported events, not one per order; the message runs the subscribed
    task for every event, and one that fails is sent again on its own."""
    from quotes import services as quotes_services

    cache.delete(f"{doorbell.PREFIX}webhooks:fanout:{workspace.pk}")
    with scope(workspace=workspace):
        made = services.orders_import(workspace=workspace, store=store, actor=STORE,
                                      items=[_own_product(n) for n in (1, 2, 3)])
    assert [created for _, created in made] == [True, True, True]
    with scopes_disabled():
        ids = list(OrderEvent.objects.filter(type=OrderEvents.IMPORTED).order_by("pk")
                   .values_list("pk", flat=True))
    sent = broker.take()
    subscribed = sorted(sub.task.name for sub in events.subscriptions()
                        if sub.wants("order.imported") and not sub.coalesce and sub.when is None)
    batches = sorted((kw["task"], kw["events"]) for name, kw in sent
                     if name == "orders.tasks.order_events_task")
    assert batches == [(name, [[pk, "order.imported"] for pk in ids]) for name in subscribed]
    assert not [kw for name, kw in sent if "event_id" in kw]  # nothing per order
    assert ("webhooks.tasks.order_events_fanout_task", {"workspace_id": workspace.pk}) in sent

    # a worker takes the pricing batch; the second order's evaluation fails once
    real = quotes_services.order_evaluate_for_event

    def fails_on_the_second(*, workspace, event_id):
        if event_id == ids[1]:
            raise RuntimeError("database went away")
        return real(workspace=workspace, event_id=event_id)

    monkeypatch.setattr(quotes_services, "order_evaluate_for_event", fails_on_the_second)
    pricing = next(kw for name, kw in sent if name == "orders.tasks.order_events_task"
                   and kw["task"] == "quotes.tasks.order_evaluate_task")
    assert broker.run("orders.tasks.order_events_task", pricing) == 2
    with scopes_disabled():
        asked = set(OrderEvent.objects.filter(type=OrderEvents.QUOTE_REQUESTED)
                    .values_list("order__external_id", flat=True))
    assert asked == {"ext-1", "ext-3"}
    again = [(name, kw) for name, kw in broker.take() if name == "quotes.tasks.order_evaluate_task"]
    assert again == [("quotes.tasks.order_evaluate_task",
                      {"workspace_id": workspace.pk, "event_id": ids[1],
                       "type": "order.imported"})]
    monkeypatch.setattr(quotes_services, "order_evaluate_for_event", real)
    broker.run(*again[0])  # its own message, as a worker takes it
    with scopes_disabled():
        assert OrderEvent.objects.filter(type=OrderEvents.QUOTE_REQUESTED,
                                         order__external_id="ext-2").exists()
