"""A trigram index for the dashboard's order search (PostgreSQL only).

`orders.selectors.order_list` matches `search_text LIKE '%needle%'` (the column
is lower-cased "number buyer e-mail skus"). A GIN index with gin_trgm_ops
answers that without scanning a workspace's orders. It is built CONCURRENTLY
(no write lock on a live orders table), so this migration is not atomic.
SQLite, the embedded default, gets nothing: its workspaces are small.
If pg_trgm cannot be created (no privilege), the index is skipped with a
warning: search still works, only slower.
"""

import logging

from django.db import migrations

log = logging.getLogger(__name__)
INDEX = "order_search_trgm"


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    table = apps.get_model("orders", "Order")._meta.db_table
    with connection.cursor() as cursor:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception as exc:  # noqa: BLE001 - optional speed-up, never a failed deploy
            log.warning("pg_trgm unavailable (%s): order search runs without its index", exc)
            return
        cursor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON {table} "
            "USING gin (search_text gin_trgm_ops)"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("orders", "0002_store_timezone_outside_default"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
