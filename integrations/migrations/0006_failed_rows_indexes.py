"""Partial indexes on failed inbox deliveries and failed outbox pushes, for /metrics
(ops/metrics.py counts them on every scrape; failed rows are few, so the indexes are
small). The inbox is the hot table: on PostgreSQL they are built CONCURRENTLY (not
atomic), so webhook intake is never blocked while the table is scanned; SQLite gets
the same partial indexes. The model state is the plain AddIndex."""

from django.db import migrations, models

INDEXES = [
    ("inbox_failed", "integrations_inboundwebhook"),
    ("outbox_failed", "integrations_outboxmessage"),
]


def forwards(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    with schema_editor.connection.cursor() as cursor:
        for name, table in INDEXES:
            cursor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON {table} "
                           "(created_at) WHERE status = 'failed'")


def backwards(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    with schema_editor.connection.cursor() as cursor:
        for name, _table in INDEXES:
            cursor.execute(f"DROP INDEX {concurrently}IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("integrations", "0005_shopify_api_base_operator_only"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
            state_operations=[
                migrations.AddIndex(
                    model_name="inboundwebhook",
                    index=models.Index(condition=models.Q(("status", "failed")),
                                       fields=["created_at"], name="inbox_failed"),
                ),
                migrations.AddIndex(
                    model_name="outboxmessage",
                    index=models.Index(condition=models.Q(("status", "failed")),
                                       fields=["created_at"], name="outbox_failed"),
                ),
            ],
        ),
    ]
