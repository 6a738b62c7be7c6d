"""Backups that restore (issue 19): a backup taken while work is in flight, restored
into a fresh database and storage, and PodHub's sweeps started on it go on exactly
where the backup left off — nothing sent twice, nothing lost."""

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from ops.backup import BackupError, read_manifest, sqlite_backup
from sandboxes.factory.factory import Config, SandboxFactory
from sandboxes.factory.server import SandboxFactoryServer

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "restore-factory-key"
ADDRESS = {"name": "Ana Buyer", "address1": "1 Main St", "city": "Springfield", "zip": "12345",
           "country_code": "US"}

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="the PostgreSQL branch (pg_dump/pg_restore); the SQLite branch is tested below")


@pytest.fixture
def factory():
    """The sandbox factory over HTTP: outside PodHub, it keeps what it accepted across
    PodHub's backup and restore (production steps only when a test says)."""
    server = SandboxFactoryServer(SandboxFactory(
        api_key=API_KEY, webhook_secret="s", callback_url="http://127.0.0.1:9/",
        config=Config(step_seconds=3600), sender=lambda *a: 200)).start()
    yield server
    server.stop()


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media-before")
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage"}}
    return tmp_path


@pytest.fixture
def fresh_database():
    """An empty PostgreSQL database on the test server, dropped afterwards."""
    db = connection.settings_dict
    name = f"restore_{uuid.uuid4().hex[:10]}"
    admin = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"],
             "password": db["PASSWORD"], "dbname": "postgres", "autocommit": True}
    with psycopg.connect(**admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = (f"postgres://{db['USER']}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}@"
           f"{db['HOST']}:{db['PORT']}/{name}")
    yield name, url, {k: v for k, v in admin.items() if k != "autocommit"} | {"dbname": name}
    with psycopg.connect(**admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _catalog(factory_url: str):
    from fulfillment.models import Adapter, ProviderConnection
    from quotes.models import (
        Product,
        Provider,
        ShippingMethod,
        ShippingRate,
        ShippingZone,
        Variant,
        VariantProvider,
    )

    product = Product.objects.create(name="Mug", currency="USD")
    mug = Variant.objects.create(product=product, sku="MUG-11", price_amount=Decimal("12.00"))
    zone = ShippingZone.objects.create(name="United States", countries="US")
    standard = ShippingMethod.objects.create(code="standard", name="Standard", currency="USD",
                                             handling_amount=Decimal("1.00"))
    ShippingRate.objects.create(method=standard, zone=zone, currency="USD",
                                first_item_amount=Decimal("5.00"),
                                additional_item_amount=Decimal("2.00"))
    provider = Provider.objects.create(code="sandbox-factory", name="Sandbox factory",
                                       kind="api")
    ProviderConnection.objects.create(provider=provider, adapter=Adapter.SANDBOX,
                                      api_base=factory_url, api_key=API_KEY, webhook_secret="s")
    VariantProvider.objects.create(variant=mug, provider=provider, provider_sku="FAC-MUG",
                                   base_cost_amount=Decimal("4.00"), priority=1)
    return mug


def _paid_order(workspace, store, mug, number: str):
    from billing.payments import orders_pay
    from tests.factories import LineItemFactory, OrderFactory

    order = OrderFactory(workspace=workspace, store=store, state="to_order", number=number,
                         shipping_address=dict(ADDRESS))
    LineItemFactory(workspace=workspace, order=order, sku="MUG-11", title="Mug", quantity=1,
                    catalog_variant_id=mug.pk)
    with scope(workspace=workspace):
        orders_pay(workspace=workspace, order_ids=[order.pk], shipping_methods=None,
                   key=f"pay-{number}")
    return order


def _in_flight(workspace, factory_url: str) -> dict:
    """The moment of the backup: order B was routed, claimed and sent — the factory has
    it — but the worker died before saving the answer; its product cost is captured.
    Order A is paid and due, not submitted yet. One store push is done, one waits."""
    from billing import ledger
    from billing.payments import order_charges_sync
    from fulfillment import submission
    from fulfillment.models import Submission
    from fulfillment.providers import client_for
    from integrations.models import OutboxMessage, StoreConnection
    from orders.models import Order
    from tests.factories import StoreFactory

    mug = _catalog(factory_url)
    ledger.credit(workspace_id=workspace.pk, kind="top_up", amount=Decimal("100.00"),
                  key="restore-test-top-up")
    store = StoreFactory(workspace=workspace, submit_after_hours=0)
    b = _paid_order(workspace, store, mug, "#B")
    a = _paid_order(workspace, store, mug, "#A")
    now = timezone.now()
    Order.objects.filter(pk=a.pk).update(submit_at=now + timedelta(hours=1))
    Order.objects.filter(pk=b.pk).update(submit_at=now - timedelta(minutes=5))
    assert submission.submit_sweep(now=now, send=False) == 1  # B routed and locked
    sub = Submission.objects.get(order=b)
    assert submission._claim(now=now, submission_id=sub.pk) == [sub.pk]  # sending, leased
    sub = Submission.objects.select_related("order", "provider").get(pk=sub.pk)
    remote = client_for(sub.provider).submit(submission.factory_order(sub))  # then killed
    order_charges_sync(workspace_id=workspace.pk)  # B's product cost captured
    Order.objects.filter(pk=a.pk).update(submit_at=now - timedelta(minutes=1))  # A due now
    conn = StoreConnection.objects.create(workspace=workspace, store=store, platform="shopify",
                                          shop_domain="restore.myshopify.com",
                                          access_token="shpat_restore", webhook_secret="s")
    OutboxMessage.objects.create(workspace=workspace, store=store, order=b, key="done-push",
                                 kind="order_note", status="done", attempts=1, done_at=now)
    OutboxMessage.objects.create(workspace=workspace, store=store, order=b, key="due-push",
                                 kind="order_note", next_attempt_at=now + timedelta(days=1))
    return {"a": a.pk, "b": b.pk, "b_reference": sub.reference, "b_remote": remote.external_id,
            "connection": conn.pk}


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


SWEEPS = """
import json
from datetime import timedelta
from django.utils import timezone
from django_scopes import scopes_disabled
from billing.services import billing_sweep
from fulfillment import submission
from integrations.services.outbox import outbox_due
from integrations.models import StoreConnection

# the sweeps of the restored install; B's claim was leased by a worker that is gone:
# run them as they will run once that lease is over (LEASE = 5 min), twice
later = timezone.now() + submission.LEASE + timedelta(seconds=1)
out = []
for _ in range(2):
    with scopes_disabled():
        out.append({"routed": submission.submit_sweep(now=later, send=False),
                    "sent": submission.send_due(now=later), "billing": billing_sweep(),
                    "outbox_due": outbox_due(now=later + timedelta(days=2)),
                    "token": StoreConnection.objects.get().access_token.reveal()})
print(json.dumps(out))
"""


@pytest.mark.django_db(transaction=True)
def test_a_restored_backup_goes_on_where_it_left_off(workspace, factory, media_root,
                                                     fresh_database, tmp_path):
    from podhub.core.models import SweepRun

    with scopes_disabled():
        ids = _in_flight(workspace, factory.url)
        default_storage.save("orders/csv-imports/1/orders.csv", ContentFile(b"order_number\n7\n"))
        default_storage.save("printfiles/7/front-v1.png", ContentFile(b"\x89PNG print file"))
    # a sweep was running on another worker when the backup was taken
    SweepRun.objects.create(name="integrations-sweep", holder="old-host:1:x",
                            lease_until=timezone.now() + timedelta(minutes=1))
    archive = tmp_path / "podhub.tar"
    call_command("backup", "--output", str(archive))
    manifest = read_manifest(archive)
    assert manifest["vendor"] == "postgresql" and manifest["media"]["files"] == 2
    leaf = MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes("core")
    assert manifest["migrations"]["core"] == leaf[0][1]  # the newest, as migrated
    assert factory.factory.stats["creates"] == 1  # B reached the factory before the backup

    name, url, dsn = fresh_database
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "podhub.settings.base",
           "DATABASE_URL": url, "MEDIA_ROOT": str(tmp_path / "media-after"),
           "PODHUB_VAR_DIR": str(tmp_path / "var"), "CELERY_BROKER_URL": "memory://"}
    restored = json.loads(_manage(env, "restore", str(archive), "--json"))
    assert restored["restored_media"] == {"files": 2, "already_there": 0}
    assert restored["leases_given_back"] == 1
    assert (tmp_path / "media-after/printfiles/7/front-v1.png").read_bytes() == \
        b"\x89PNG print file"
    assert (tmp_path / "media-after/orders/csv-imports/1/orders.csv").exists()

    first, second = json.loads(_manage(env, "shell", "-c", SWEEPS).splitlines()[-1])
    # A went to production once; B was found at the factory by our reference
    assert (first["routed"], first["sent"]) == (1, 2)
    assert (second["routed"], second["sent"]) == (0, 0)
    stats = factory.factory.stats
    assert stats["creates"] == 2  # A's create; B's never again
    refs = [o.external_id for o in factory.factory.orders.values()]
    assert sorted(refs) == sorted(set(refs)) and len(refs) == 2
    assert first["token"] == "shpat_restore"  # the secrets decrypt
    # only the push that was waiting is due; the one done before the backup is not
    assert len(first["outbox_due"]) == 1

    with psycopg.connect(**dsn) as db:
        subs = db.execute("SELECT order_id, status, external_id, attempts FROM "
                          "fulfillment_submission ORDER BY order_id").fetchall()
        captures = db.execute("SELECT order_id, count(*) FROM billing_ledgerentry WHERE "
                              "kind = 'capture' GROUP BY order_id").fetchall()
        keys = db.execute("SELECT count(*), count(DISTINCT idempotency_key) FROM "
                          "billing_ledgerentry").fetchone()
        books = db.execute(
            "SELECT a.balance_amount = coalesce(sum(e.balance_delta), 0), "
            "a.held_amount = coalesce(sum(e.held_delta), 0) FROM billing_account a "
            "LEFT JOIN billing_ledgerentry e ON e.workspace_id = a.workspace_id "
            "GROUP BY a.id, a.balance_amount, a.held_amount").fetchall()
        states = dict(db.execute("SELECT id, state FROM orders_order").fetchall())
        done_push = db.execute("SELECT status, attempts FROM integrations_outboxmessage "
                               "WHERE key = 'done-push'").fetchone()
        leases = db.execute("SELECT count(*) FROM core_sweeprun WHERE holder <> ''").fetchone()
    by_order = {row[0]: row[1:] for row in subs}
    assert by_order[ids["b"]] == ("accepted", ids["b_remote"], 2)  # looked up, not re-sent
    assert by_order[ids["a"]][0] == "accepted"
    assert states == {ids["a"]: "in_production", ids["b"]: "in_production"}
    assert dict(captures) == {ids["a"]: 1, ids["b"]: 1}  # B's capture not taken twice
    assert keys[0] == keys[1]
    assert books == [(True, True)]
    assert done_push == ("done", 1)
    assert leases == (0,)


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_a_database_that_is_not_empty(workspace, media_root, tmp_path):
    archive = tmp_path / "podhub.tar"
    call_command("backup", "--output", str(archive), "--no-media")
    from ops.backup import restore

    with pytest.raises(BackupError, match="is not empty"):
        restore(archive=archive)


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_keys_that_cannot_read_the_backups_secrets(workspace, media_root,
                                                                  tmp_path, settings):
    from cryptography.fernet import Fernet

    from ops.backup import restore

    archive = tmp_path / "podhub.tar"
    call_command("backup", "--output", str(archive), "--no-media")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(BackupError, match="PODHUB_ENCRYPTION_KEYS holds none"):
        restore(archive=archive)


def test_sqlite_online_backup_is_consistent_while_another_connection_writes(tmp_path):
    """The SQLite branch: the backup API copies the committed state of a WAL database
    while a writer is in the middle of a transaction (a file copy would not)."""
    import sqlite3

    source = tmp_path / "podhub.sqlite3"
    writer = sqlite3.connect(str(source), isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER)")
    writer.executemany("INSERT INTO ledger (amount) VALUES (?)", [(i,) for i in range(1000)])
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO ledger (amount) VALUES (-1)")  # not committed
    reader = sqlite3.connect(str(source))
    target = tmp_path / "copy.sqlite3"
    sqlite_backup(reader, target)
    writer.execute("COMMIT")
    copy = sqlite3.connect(str(target))
    assert copy.execute("SELECT count(*), sum(amount) FROM ledger").fetchone() == (1000, 499500)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
