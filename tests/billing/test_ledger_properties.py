"""Property and concurrency tests of the ledger's invariants.

After any sequence of operations, concurrent or not:
- the cached balance equals the sum of the entries' balance deltas, and the
  cached held amount the sum of held deltas and of the open holds' remainders;
- available (balance - held) was never below zero: every entry records the
  totals right after it, and none shows a negative available;
- no idempotency key appears twice; a replayed key changes nothing.
"""

import random
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count
from django_scopes import scope, scopes_disabled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import ledger
from billing.models import Account, EntryKind, Hold, LedgerEntry
from podhub.core.db import ExactSum
from podhub.core.exceptions import Conflict
from tests.factories import WorkspaceFactory

D = Decimal
pytestmark = pytest.mark.usefixtures("ledger_mode")


def assert_invariants(workspace):
    acct = Account.objects.get(workspace=workspace)
    entries = LedgerEntry.objects.filter(workspace=workspace)
    sums = entries.aggregate(b=ExactSum("balance_delta"), h=ExactSum("held_delta"))
    open_total = sum((h.remaining_amount for h in Hold.objects.filter(workspace=workspace)),
                     D(0))
    assert acct.balance_amount == (sums["b"] or D(0))
    assert acct.held_amount == (sums["h"] or D(0)) == open_total
    assert acct.available_amount >= 0
    assert not entries.filter(balance_after__lt=0).exists()
    for e in entries.only("balance_after", "held_after"):
        assert e.balance_after - e.held_after >= 0, e
    dupes = entries.values("idempotency_key").annotate(n=Count("id")).filter(n__gt=1)
    assert not dupes.exists()
    return acct


money = st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)
ops = st.lists(st.one_of(
    st.tuples(st.just("top_up"), money),
    st.tuples(st.just("hold"), money),
    st.tuples(st.just("capture"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("release"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("adjust"), st.decimals(min_value=D("-300"), max_value=D("300"),
                                             places=2)),
    st.tuples(st.just("reverse"), money),
    st.tuples(st.just("replay"), st.integers(0, 50)),
), min_size=1, max_size=25)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sequence=ops)
def test_ledger_invariants_hold_for_any_sequence_of_operations(sequence):
    with scopes_disabled():
        ws = WorkspaceFactory()
    # a reference model: what balance, held and debt must be
    balance, held, debt = D(0), D(0), D(0)
    holds: list[int] = []
    done: list[tuple] = []  # (kind-call, kwargs) for replays
    with scope(workspace=ws):
        for i, op in enumerate(sequence):
            key = f"{ws.pk}:k{i}"
            kind = op[0]
            try:
                if kind == "top_up":
                    ledger.credit(workspace_id=ws.pk, kind=EntryKind.TOP_UP, amount=op[1],
                                  key=key)
                    balance += op[1]
                    paid = min(debt, balance - held)
                    balance, debt = balance - paid, debt - paid
                elif kind == "hold":
                    expect_ok = op[1] <= balance - held
                    h = ledger.hold_place(workspace_id=ws.pk, amount=op[1], key=key)
                    assert expect_ok
                    holds.append(h.pk)
                    held += op[1]
                elif kind in ("capture", "release") and holds:
                    hold = Hold.objects.get(pk=holds[op[1] % len(holds)])
                    part = None if op[2] else (hold.remaining_amount / 2).quantize(D("0.01"))
                    fn = ledger.hold_capture if kind == "capture" else ledger.hold_release
                    entry = fn(workspace_id=ws.pk, hold_id=hold.pk, amount=part, key=key)
                    amount = entry.amount if entry else D(0)
                    held -= amount
                    if kind == "capture":
                        balance -= amount
                elif kind == "adjust" and op[1] != 0:
                    fn = ledger.credit if op[1] > 0 else ledger.debit
                    expect_ok = op[1] > 0 or -op[1] <= balance - held
                    fn(workspace_id=ws.pk, kind=EntryKind.ADJUSTMENT, amount=abs(op[1]), key=key)
                    assert expect_ok
                    balance += op[1]
                    if op[1] > 0:
                        paid = min(debt, balance - held)
                        balance, debt = balance - paid, debt - paid
                elif kind == "reverse":
                    ledger.reverse(workspace_id=ws.pk, amount=op[1], key=key)
                    take = min(op[1], balance - held)
                    balance -= take
                    debt += op[1] - take
                elif kind == "replay" and done:
                    fn, kwargs = done[op[1] % len(done)]
                    before = LedgerEntry.objects.filter(workspace=ws).count()
                    fn(**kwargs)
                    assert LedgerEntry.objects.filter(workspace=ws).count() == before
                    continue
                else:
                    continue
            except ledger.InsufficientFunds:
                assert kind in ("hold", "adjust")
                continue
            if kind == "top_up":
                done.append((ledger.credit, {"workspace_id": ws.pk, "kind": EntryKind.TOP_UP,
                                                 "amount": op[1], "key": key}))
            acct = assert_invariants(ws)
            assert (acct.balance_amount, acct.held_amount, acct.debt_amount) == (
                balance, held, debt)


# --- concurrency on the real PostgreSQL ------------------------------------------------


def hammer(workspace, worker: int, n_ops: int, shared_keys: list, accepted: list,
           errors: list, seed: int) -> None:
    """One thread = one database connection: random operations on one workspace."""
    rnd = random.Random(seed)
    try:
        with scope(workspace=workspace):
            my_holds: list[int] = []
            for i in range(n_ops):
                key = f"w{worker}-{i}"
                r = rnd.random()
                if 0.6 <= r < 0.95 and not my_holds:
                    r = 0.4  # nothing to capture or release yet: place a hold
                try:
                    if r < 0.25:
                        e = ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP,
                                          amount=D(rnd.randint(1, 5000)) / 100, key=key)
                        accepted.append(e.idempotency_key)
                    elif r < 0.6:
                        h = ledger.hold_place(workspace_id=workspace.pk,
                                              amount=D(rnd.randint(1, 4000)) / 100, key=key)
                        my_holds.append(h.pk)
                        accepted.append(key)
                    elif r < 0.8:
                        hid = rnd.choice(my_holds)
                        e = ledger.hold_capture(workspace_id=workspace.pk, hold_id=hid, key=key)
                        my_holds.remove(hid)
                        if e:
                            accepted.append(key)
                    elif r < 0.95:
                        hid = rnd.choice(my_holds)
                        e = ledger.hold_release(workspace_id=workspace.pk, hold_id=hid, key=key)
                        my_holds.remove(hid)
                        if e:
                            accepted.append(key)
                    elif shared_keys:
                        # replay somebody else's top-up key at the same time as others
                        other, amount = rnd.choice(shared_keys)
                        ledger.credit(workspace_id=workspace.pk, kind=EntryKind.TOP_UP,
                                      amount=amount, key=other)
                        continue
                    if r < 0.25:
                        shared_keys.append((key, e.amount))
                except ledger.InsufficientFunds:
                    pass
                except Conflict as exc:  # a replay that raced ahead of the original
                    errors.append(f"conflict {exc}")
    except Exception as exc:  # reported by the test
        errors.append(repr(exc))
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_break_the_invariants(workspace):
    threads, accepted, errors, shared = [], [], [], []
    for w in range(6):
        t = threading.Thread(target=hammer, args=(workspace, w, 60, shared, accepted, errors,
                                                  1000 + w))
        threads.append(t)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with scope(workspace=workspace):
        acct = assert_invariants(workspace)
        keys = set(LedgerEntry.objects.filter(workspace=workspace).values_list(
            "idempotency_key", flat=True))
        # every accepted operation is in the ledger exactly once, and nothing else is
        assert keys == set(accepted)
        assert len(accepted) == len(set(accepted))
        assert acct.balance_amount == LedgerEntry.objects.filter(
            workspace=workspace).aggregate(s=ExactSum("balance_delta"))["s"]
