"""An index for the "staff need information" banner, shown on every dashboard page.

`orders.selectors.attention_orders` reads a workspace's orders on hold for an
information request, soonest deadline first. Without this partial index the
query walks every on-hold order (of every workspace, or of the workspace's
on_hold tab): tens of ms for a large workspace, on every page. With it, it
reads just those rows. Built CONCURRENTLY on PostgreSQL (not atomic);
SQLite gets the same partial index.
"""

from django.db import migrations

INDEX = "order_info_requested_ws"


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    table = apps.get_model("orders", "Order")._meta.db_table
    concurrently = "CONCURRENTLY " if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE INDEX {concurrently}IF NOT EXISTS {INDEX} ON {table} "
            "(workspace_id, info_due_at) "
            "WHERE state = 'on_hold' AND hold_reason = 'info_requested'"
        )


def backwards(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {concurrently}IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("orders", "0003_order_search_trgm"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
