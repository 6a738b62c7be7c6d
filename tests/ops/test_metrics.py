"""GET /metrics (issue 19): refused without the operator's token or address; every
gauge is shown; each one moves when the rows it counts change."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from django_scopes import scopes_disabled
from prometheus_client.parser import text_string_to_metric_families

from ops import metrics
from tests.factories import LineItemFactory, OrderFactory, ProviderFactory, StoreFactory

TOKEN = "metrics-token-for-tests"
AGO = timedelta(seconds=600)


@pytest.fixture
def scrape(client, settings):
    settings.PODHUB_METRICS_TOKEN = TOKEN
    settings.PODHUB_METRICS_CACHE_SECONDS = 0  # each scrape reads the database again

    def get() -> dict[tuple[str, tuple], float]:
        resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 200, resp.content
        assert resp["Content-Type"].startswith("text/plain; version=")
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(resp.content.decode())
                for s in family.samples}

    return get


def value(samples, name, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


# --- who may read them -------------------------------------------------------------------


@pytest.mark.django_db
def test_refused_when_neither_a_token_nor_an_address_is_configured(client, settings):
    settings.PODHUB_METRICS_TOKEN = ""
    settings.PODHUB_METRICS_ALLOW = []
    resp = client.get("/metrics")
    assert resp.status_code == 403
    assert b"Metrics are off" in resp.content
    assert b"podhub_" not in resp.content


@pytest.mark.django_db
def test_the_token_is_required(client, settings):
    settings.PODHUB_METRICS_TOKEN = TOKEN
    settings.PODHUB_METRICS_ALLOW = []
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Token {TOKEN}"}):
        resp = client.get("/metrics", headers=headers)
        assert resp.status_code == 401, headers
        assert resp["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert b"podhub_" not in resp.content
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200
    assert b"podhub_work_items" in resp.content


@pytest.mark.django_db
def test_an_allowed_network_reads_without_a_token_and_others_are_refused(client, settings):
    settings.PODHUB_METRICS_TOKEN = ""
    settings.PODHUB_METRICS_ALLOW = ["10.1.0.0/16", "192.0.2.7"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    refused = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert refused.status_code == 403
    assert b"podhub_" not in refused.content
    # a wrong token is refused even from an allowed address
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3",
                      headers={"Authorization": "Bearer x"}).status_code == 401


@pytest.mark.django_db
def test_a_seller_session_or_api_token_is_refused(owner, client_for, api_client_for, settings):
    settings.PODHUB_METRICS_TOKEN = TOKEN
    assert client_for(owner).get("/metrics").status_code == 401
    assert api_client_for(owner).get("/metrics").status_code == 401


@pytest.mark.django_db
def test_only_get(client, settings):
    settings.PODHUB_METRICS_TOKEN = TOKEN
    resp = client.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 405


# --- every gauge, and each one moving -----------------------------------------------------

QUEUES = {queue: states for queue, _model, _field, states in metrics._work_queues()}


@pytest.mark.django_db
def test_every_gauge_is_shown(scrape):
    from podhub.core.tasks import heartbeat_task

    heartbeat_task()  # a worker ran beat's heartbeat (through the sweep lease)
    samples = scrape()
    for queue, states in QUEUES.items():
        for state in states:
            assert value(samples, "podhub_work_items", queue=queue, state=state) == 0
            assert value(samples, "podhub_work_oldest_age_seconds", queue=queue,
                         state=state) == 0
    for name in ("podhub_orders_due_for_submission", "podhub_orders_overdue_for_submission",
                 "podhub_orders_due_oldest_age_seconds", "podhub_ledger_entries_total",
                 "podhub_worker_heartbeat_age_seconds", "podhub_metrics_collect_seconds"):
        assert value(samples, name) is not None, name
    assert value(samples, "podhub_sweep_interval_seconds",
                 sweep="fulfillment-submit-sweep") == 60
    assert value(samples, "podhub_sweep_runs_total", sweep="heartbeat") == 1
    for name in ("podhub_sweep_last_started_age_seconds", "podhub_sweep_last_success_age_seconds",
                 "podhub_sweep_running", "podhub_sweep_skipped_total"):
        assert value(samples, name, sweep="heartbeat") is not None, name
    # the first scrape's own request is timed by the second
    again = scrape()
    assert value(again, "podhub_http_request_duration_seconds_count", route="metrics",
                 method="GET", status="2xx") >= 1


def _connection(workspace):
    from integrations.models import StoreConnection

    store = StoreFactory(workspace=workspace, platform="shopify")
    return StoreConnection.objects.create(workspace=workspace, store=store, platform="shopify",
                                          shop_domain=f"s{store.pk}.myshopify.com",
                                          access_token="t", webhook_secret="s")


def _order(workspace, **kwargs):
    order = OrderFactory(workspace=workspace, **kwargs)
    return order, LineItemFactory(workspace=workspace, order=order)


def make_inbox(workspace, state, created_at):
    from integrations.models import InboundWebhook

    conn = _connection(workspace)
    InboundWebhook.objects.create(workspace=workspace, connection=conn, event_id=f"e-{state}",
                                  topic="orders/create", body="{}", status=state,
                                  created_at=created_at)


def make_outbox(workspace, state, created_at):
    from integrations.models import OutboxMessage

    OutboxMessage.objects.create(workspace=workspace, store=StoreFactory(workspace=workspace),
                                 kind="fulfillment_create", key=f"k-{state}", status=state,
                                 created_at=created_at)


def make_submissions(workspace, state, created_at):
    from fulfillment.models import Submission

    order, _ = _order(workspace, state="in_production")
    Submission.objects.create(workspace=workspace, order=order, provider=ProviderFactory(),
                              adapter="sandbox", reference=f"PH{order.pk}-1", status=state,
                              created_at=created_at)


def make_renders(workspace, state, created_at):
    from fulfillment.models import Render

    order, line = _order(workspace)
    Render.objects.create(workspace=workspace, order=order, line_item=line, status=state,
                          created_at=created_at)


def make_csv_imports(workspace, state, created_at):
    from orders.models import CsvImport

    job = CsvImport(workspace=workspace, store=StoreFactory(workspace=workspace),
                    filename="a.csv", sha256="0" * 64, status=state, created_at=created_at)
    job.file.save("a.csv", ContentFile(b"order_number\n1\n"), save=False)
    job.save()


def make_store_imports(workspace, state, created_at):
    from integrations.models import ImportJob

    ImportJob.objects.create(workspace=workspace, connection=_connection(workspace),
                             status=state, created_at=created_at)


def make_provider_webhooks(workspace, state, created_at):
    from fulfillment.models import ProviderWebhook

    ProviderWebhook.objects.create(provider_code="sandbox-factory", event_key=f"k-{state}",
                                   body="{}", result=state, received_at=created_at)


def make_stripe_events(workspace, state, created_at):
    from billing.models import StripeEvent

    StripeEvent.objects.create(event_id=f"evt_{state}", type="payment_intent.succeeded",
                               payload={}, status=state, received_at=created_at)


def _endpoint(workspace, **kwargs):
    from webhooks.models import WebhookEndpoint

    return WebhookEndpoint.objects.create(workspace=workspace, url="https://hooks.example/in",
                                          event_types=["order.paid"], secret="whsec_x",
                                          **kwargs)


def make_seller_webhooks(workspace, state, created_at):
    from webhooks.models import WebhookDelivery

    WebhookDelivery.objects.create(workspace=workspace, endpoint=_endpoint(workspace),
                                   event_type="order.paid", body="{}", status=state,
                                   created_at=created_at)


def make_rule_apply_jobs(workspace, state, created_at):
    from automation.models import ApplyJob, Rule

    rule = Rule.objects.create(workspace=workspace, name="Tag Brazil", trigger="paid",
                               actions=[{"type": "tag", "tag": "br"}])
    ApplyJob.objects.create(workspace=workspace, rule=rule, status=state, created_at=created_at)


MAKERS = {"inbox": make_inbox, "outbox": make_outbox, "submissions": make_submissions,
          "renders": make_renders, "csv_imports": make_csv_imports,
          "store_imports": make_store_imports, "provider_webhooks": make_provider_webhooks,
          "stripe_events": make_stripe_events, "seller_webhooks": make_seller_webhooks,
          "rule_apply_jobs": make_rule_apply_jobs}
CASES = [(queue, state) for queue, states in QUEUES.items() for state in states]


def test_every_queue_has_a_maker():
    assert set(MAKERS) == set(QUEUES)


@pytest.mark.parametrize(("queue", "state"), CASES)
def test_each_work_gauge_moves(scrape, workspace, queue, state):
    before = scrape()
    assert value(before, "podhub_work_items", queue=queue, state=state) == 0
    with scopes_disabled():
        MAKERS[queue](workspace, state, timezone.now() - AGO)
    after = scrape()
    assert value(after, "podhub_work_items", queue=queue, state=state) == 1
    assert value(after, "podhub_work_oldest_age_seconds", queue=queue,
                 state=state) >= AGO.total_seconds()
    # the other states of the queue did not move
    for other in QUEUES[queue]:
        if other != state:
            assert value(after, "podhub_work_items", queue=queue, state=other) == 0


def test_seller_webhook_endpoints_by_state_move(scrape, workspace):
    assert value(scrape(), "podhub_seller_webhook_endpoints", state="disabled") == 0
    with scopes_disabled():
        _endpoint(workspace)
        _endpoint(workspace, is_enabled=False, disabled_reason="Failing for 3 days")
    after = scrape()
    assert value(after, "podhub_seller_webhook_endpoints", state="enabled") == 1
    assert value(after, "podhub_seller_webhook_endpoints", state="disabled") == 1


def test_orders_due_and_overdue_move(scrape, workspace):
    now = timezone.now()
    samples = scrape()
    assert value(samples, "podhub_orders_due_for_submission") == 0
    with scopes_disabled():
        _order(workspace, state="awaiting_submission", submit_at=now - timedelta(seconds=10))
        samples = scrape()
        assert value(samples, "podhub_orders_due_for_submission") == 1
        assert value(samples, "podhub_orders_overdue_for_submission") == 0
        assert 10 <= value(samples, "podhub_orders_due_oldest_age_seconds") < 120
        _order(workspace, state="awaiting_submission", submit_at=now - timedelta(minutes=10))
        # not due yet, or never auto-submitted: not counted
        _order(workspace, state="awaiting_submission", submit_at=now + timedelta(hours=1))
        _order(workspace, state="awaiting_submission", submit_at=now - timedelta(hours=1),
               auto_submit=False)
    samples = scrape()
    assert value(samples, "podhub_orders_due_for_submission") == 2
    assert value(samples, "podhub_orders_overdue_for_submission") == 1
    assert value(samples, "podhub_orders_due_oldest_age_seconds") >= 600


def test_ledger_writes_move(scrape, workspace):
    from billing import ledger

    before = value(scrape(), "podhub_ledger_entries_total")
    with scopes_disabled():
        ledger.credit(workspace_id=workspace.pk, kind="top_up", amount=Decimal("10.00"),
                      key="metrics-test-top-up")
        ledger.credit(workspace_id=workspace.pk, kind="top_up", amount=Decimal("5.00"),
                      key="metrics-test-top-up-2")
    assert value(scrape(), "podhub_ledger_entries_total") >= before + 2


@pytest.mark.django_db
def test_worker_heartbeat_age_moves(scrape):
    from podhub.core.models import Heartbeat

    Heartbeat.objects.create(name="worker", beat_at=timezone.now() - timedelta(minutes=5))
    assert value(scrape(), "podhub_worker_heartbeat_age_seconds") >= 300
    Heartbeat.objects.filter(name="worker").update(beat_at=timezone.now())
    assert value(scrape(), "podhub_worker_heartbeat_age_seconds") < 60


@pytest.mark.django_db
def test_sweep_runs_and_ages_move(scrape):
    from podhub.core.models import SweepRun
    from podhub.core.tasks import heartbeat_task

    assert value(scrape(), "podhub_sweep_runs_total", sweep="heartbeat") is None
    heartbeat_task()
    SweepRun.objects.filter(name="heartbeat").update(
        started_at=timezone.now() - timedelta(minutes=3),
        finished_at=timezone.now() - timedelta(minutes=3))
    samples = scrape()
    assert value(samples, "podhub_sweep_runs_total", sweep="heartbeat") == 1
    assert value(samples, "podhub_sweep_last_success_age_seconds", sweep="heartbeat") >= 180
    heartbeat_task()
    samples = scrape()
    assert value(samples, "podhub_sweep_runs_total", sweep="heartbeat") == 2
    assert value(samples, "podhub_sweep_last_success_age_seconds", sweep="heartbeat") < 60


def test_scrapes_are_cached_for_a_few_seconds(scrape, settings, workspace):
    settings.PODHUB_METRICS_CACHE_SECONDS = 60
    metrics.DATABASE._until = 0.0
    assert value(scrape(), "podhub_work_items", queue="renders", state="pending") == 0
    with scopes_disabled():
        make_renders(workspace, "pending", timezone.now())
    assert value(scrape(), "podhub_work_items", queue="renders", state="pending") == 0
    metrics.DATABASE._until = 0.0  # the cache ran out
    assert value(scrape(), "podhub_work_items", queue="renders", state="pending") == 1


# --- the sample alert rules ---------------------------------------------------------------


@pytest.mark.django_db
def test_the_sample_alert_rules_use_only_metrics_that_exist(scrape):
    import re
    from pathlib import Path

    import yaml

    from podhub.core.tasks import heartbeat_task

    heartbeat_task()
    scrape()  # a request the next scrape shows the timing of
    shown = {name for name, _labels in scrape()}
    rules = yaml.safe_load((Path(__file__).resolve().parents[2] / "ops/prometheus/alerts.yml")
                           .read_text())["groups"][0]["rules"]
    assert len(rules) >= 10
    for rule in rules:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
        for name in re.findall(r"\b(podhub_[a-z_]+)", rule["expr"]):
            assert name in shown, f"{rule['alert']}: {name} is not on /metrics"
