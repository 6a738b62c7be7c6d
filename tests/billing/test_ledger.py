from decimal import Decimal

import pytest
from django.db import connection
from django_scopes import scope

from billing import ledger
from billing.models import Account, EntryKind, Hold, LedgerEntry
from podhub.core.db import ExactSum

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_mode")]


def totals(workspace):
    acct = Account.objects.get(workspace=workspace)
    sums = LedgerEntry.objects.filter(workspace=workspace).aggregate(
        b=ExactSum("balance_delta"), h=ExactSum("held_delta"))
    open_holds = sum((h.remaining_amount for h in Hold.objects.filter(workspace=workspace)),
                     D(0))
    return acct, sums["b"] or D(0), sums["h"] or D(0), open_holds


def test_top_up_hold_capture_release_keep_the_cached_totals_equal_to_the_entries(workspace):
    with scope(workspace=workspace):
        # given a top-up of 100
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D("100.00"),
                      key="t1")
        # when 30 is held, 20 of it captured and the rest released
        hold = ledger.hold_place(workspace_id=workspace.pk, amount=D("30.00"), key="h1")
        ledger.hold_capture(workspace_id=workspace.pk, hold_id=hold.pk, amount=D("20.00"),
                            key="c1")
        ledger.hold_release(workspace_id=workspace.pk, hold_id=hold.pk, key="r1")
        # then
        acct, balance, held, open_holds = totals(workspace)
        assert (acct.balance_amount, acct.held_amount) == (D("80.00"), D("0.00"))
        assert (balance, held, open_holds) == (D("80.00"), D("0.00"), D("0.00"))
        hold.refresh_from_db()
        assert not hold.is_open
        assert (hold.captured_amount, hold.released_amount) == (D("20.00"), D("10.00"))


def test_a_replayed_key_changes_nothing_and_a_reused_key_is_refused(workspace):
    with scope(workspace=workspace):
        first = ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP,
                              amount=D("10.00"), key="same")
        again = ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP,
                              amount=D("10.00"), key="same")
        assert again.pk == first.pk
        with pytest.raises(ledger.KeyReused):
            ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D("11.00"),
                          key="same")
        assert Account.objects.get(workspace=workspace).balance_amount == D("10.00")


def test_a_hold_larger_than_available_is_refused_with_the_missing_amount(workspace):
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D("25.00"),
                      key="t")
        ledger.hold_place(workspace_id=workspace.pk, amount=D("20.00"), key="h1")
        with pytest.raises(ledger.InsufficientFunds) as err:
            ledger.hold_place(workspace_id=workspace.pk, amount=D("7.50"), key="h2")
        assert err.value.missing == D("2.50")
        assert "$2.50 missing" in err.value.message
        assert not LedgerEntry.objects.filter(idempotency_key="h2").exists()


def test_a_reversal_beyond_available_becomes_debt_paid_by_the_next_credit(workspace):
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D("50.00"),
                      key="t1")
        ledger.hold_place(workspace_id=workspace.pk, amount=D("40.00"), key="h")
        # Stripe takes back all 50, only 10 are available
        ledger.reverse(workspace_id=workspace.pk, amount=D("50.00"), key="rev")
        acct = Account.objects.get(workspace=workspace)
        assert (acct.balance_amount, acct.held_amount, acct.debt_amount) == (
            D("40.00"), D("40.00"), D("40.00"))
        # the next top-up pays the debt first
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D("60.00"),
                      key="t2")
        acct.refresh_from_db()
        assert (acct.balance_amount, acct.available_amount, acct.debt_amount) == (
            D("60.00"), D("20.00"), D("0.00"))


def test_a_negative_adjustment_cannot_spend_held_money(workspace):
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D("10.00"),
                      key="t")
        ledger.hold_place(workspace_id=workspace.pk, amount=D("8.00"), key="h")
        with pytest.raises(ledger.InsufficientFunds):
            ledger.debit(workspace_id=workspace.pk, kind=EntryKind.ADJUSTMENT,
                         amount=D("3.00"), key="adj")


def test_entries_are_append_only(workspace):
    with scope(workspace=workspace):
        entry = ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP,
                              amount=D("1.00"), key="t")
        entry.memo = "changed"
        with pytest.raises(ValueError, match="append-only"):
            entry.save()
        with pytest.raises(ValueError, match="append-only"):
            entry.delete()


def test_ledger_write_query_budget(workspace, django_assert_max_num_queries):
    with scope(workspace=workspace):
        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP, amount=D("100"),
                      key="t")
        hold = ledger.hold_place(workspace_id=workspace.pk, amount=D("10"), key="h0")
        # lock + replay check; then hold, entry and totals in one statement on PostgreSQL
        # (data-modifying CTEs), one statement each on SQLite (it has none); plus
        # SAVEPOINT/RELEASE because the test itself runs in a transaction
        budget = 4 if connection.vendor == "postgresql" else 6
        with django_assert_max_num_queries(budget):
            ledger.hold_place(workspace_id=workspace.pk, amount=D("10"), key="h1")
        # lock + replay check + read the hold; then entry, hold and totals
        with django_assert_max_num_queries(budget):
            ledger.hold_capture(workspace_id=workspace.pk, hold_id=hold.pk, key="c")
