"""podhub/core/db.py: each helper on the database the suite runs on (`make test` runs
it on PostgreSQL and on SQLite, so both branches are exercised)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from types import SimpleNamespace

import pytest
from django.db import connection
from django.db.models import Case, F, Q, Sum, Value, When
from django.db.models.functions import Coalesce

from podhub.core import db
from podhub.core.models import Heartbeat
from quotes.models import Variant
from tests.factories import ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_update_by_ids_gives_each_row_its_values_and_all_rows_the_rest():
    rows = Heartbeat.objects.bulk_create(
        [Heartbeat(name=f"hb-{n}", beat_at=T0) for n in range(4)])
    a, b, c, untouched = rows
    later = T0 + timedelta(minutes=5, microseconds=250)
    updated = db.update_by_ids(Heartbeat, {a.pk: ("worker",), b.pk: ("beat",),
                                           c.pk: ("web",)},
                               columns=("name",), also="beat_at = %s", params=[later])
    assert updated == 3
    got = dict(Heartbeat.objects.values_list("pk", "name"))
    assert got == {a.pk: "worker", b.pk: "beat", c.pk: "web", untouched.pk: "hb-3"}
    # written as the ORM writes it: an ORM filter on the value finds exactly those rows
    assert set(Heartbeat.objects.filter(beat_at=later).values_list("pk", flat=True)) == {
        a.pk, b.pk, c.pk}
    assert Heartbeat.objects.get(pk=untouched.pk).beat_at == T0


def test_update_by_ids_can_read_the_row_it_updates():
    [hb] = Heartbeat.objects.bulk_create([Heartbeat(name="x", beat_at=T0)])
    db.update_by_ids(Heartbeat, {hb.pk: ("y",)}, columns=("name",),
                     also="beat_at = COALESCE(NULL, t.beat_at)")
    hb.refresh_from_db()
    assert (hb.name, hb.beat_at) == ("y", T0)


def test_update_by_ids_takes_more_rows_than_one_statement_may_bind():
    n = (connection.features.max_query_params or 999) + 3  # SQLite: 999 (chunks of 333)
    rows = Heartbeat.objects.bulk_create(
        [Heartbeat(name=f"hb-{i}", beat_at=T0) for i in range(n)], batch_size=300)
    later = T0 + timedelta(hours=1)
    updated = db.update_by_ids(Heartbeat, {r.pk: (f"new-{r.pk}", later) for r in rows},
                               columns=("name", "beat_at"))
    assert updated == n
    assert Heartbeat.objects.filter(beat_at=later).count() == n
    assert all(name == f"new-{pk}" for pk, name in Heartbeat.objects.values_list("pk", "name"))


def test_update_by_ids_with_no_rows_runs_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert db.update_by_ids(Heartbeat, {}, columns=("name",)) == 0


def test_exact_sum_adds_money_without_binary_rounding():
    product = ProductFactory()
    for price in ("0.01", "1.81", "1.73", "0.10", "0.20", "1234567.895"):
        VariantFactory(product=product, price=price)
    money = Variant._meta.get_field("price_amount")
    # a signed amount, as ledger deltas are: 1.73 counts as -1.73
    signed = Case(When(price_amount=D("1.73"), then=-F("price_amount")),
                  default=F("price_amount"), output_field=money)
    few = Q(price_amount__in=[D("0.01"), D("1.81"), D("1.73")])
    got = Variant.objects.aggregate(
        total=db.ExactSum(signed),
        few=db.ExactSum(signed, filter=few),  # a float SUM gives 0.0900000000000001
        unsigned=db.ExactSum("price_amount"),
        none=db.ExactSum("price_amount", filter=Q(sku="no such sku")),
        or_zero=Coalesce(db.ExactSum("price_amount", filter=Q(sku="no such sku")),
                         Value(D("0")), output_field=money),
        doubled=db.ExactSum(F("price_amount") * 2),
        days=Sum("production_days"))
    assert got["total"] == D("1234568.285") and str(got["total"]) == "1234568.285"
    assert got["few"] == D("0.090") and str(got["few"]) == "0.090"
    assert got["unsigned"] == D("1234571.745")
    assert got["none"] is None and got["or_zero"] == 0
    assert got["doubled"] == D("2469143.490")
    assert got["days"] == 18  # not a decimal: a plain SUM
    # grouped, as the reports use it
    small = (Variant.objects.filter(price_amount__lt=2).values("product")
             .annotate(s=db.ExactSum(signed)))
    assert [row["s"] for row in small] == [D("0.390")]


def test_hours_between_two_datetimes_in_the_database():
    [hb] = Heartbeat.objects.bulk_create([Heartbeat(name="x", beat_at=T0)])
    row = Heartbeat.objects.annotate(
        hours=db.HoursBetween(Value(T0 + timedelta(hours=36, minutes=30)), F("beat_at"))
    ).get(pk=hb.pk)
    assert row.hours == pytest.approx(36.5)


def test_insert_ignore_returning_inserts_once_and_says_when_it_existed():
    first = db.insert_ignore_returning(Heartbeat, {"name": "worker", "beat_at": T0},
                                       unique=("name",))
    again = db.insert_ignore_returning(
        Heartbeat, {"name": "worker", "beat_at": T0 + timedelta(hours=1)}, unique=("name",))
    other = db.insert_ignore_returning(Heartbeat, {"name": "beat", "beat_at": T0},
                                       unique=("name",))
    assert isinstance(first, int) and again is None and other not in (None, first)
    # the existing row is left as it was, and its datetime is what the ORM reads and finds
    assert Heartbeat.objects.get(pk=first).beat_at == T0
    assert Heartbeat.objects.filter(beat_at=T0).count() == 2


def test_an_old_sqlite_is_refused_at_start_up_with_what_to_do(monkeypatch):
    monkeypatch.setattr(db, "connection", SimpleNamespace(vendor="sqlite"))
    monkeypatch.setattr(db.sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(db.sqlite3, "sqlite_version", "3.31.1")
    [error] = db.check_sqlite_version()
    assert error.id == "podhub.E001" and "3.31.1" in error.msg and "3.35" in error.msg
    monkeypatch.setattr(db.sqlite3, "sqlite_version_info", (3, 40, 1))
    assert db.check_sqlite_version() == []
