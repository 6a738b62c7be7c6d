"""The ledger: the only writer of Account, LedgerEntry and Hold.

Every write runs in one transaction that first locks the workspace's Account
row (`SELECT … FOR UPDATE`), so writes of one workspace are serialised and the
check "available stays ≥ 0" cannot race. The cached totals on the Account row
are updated in the same transaction as the entries that change them.

Each operation carries an idempotency key (unique in the database). Replaying
an operation with a key that is already in the ledger returns the existing
entry and changes nothing; the same key with a different amount or kind is a
Conflict. The lock query also looks the key up, so the common path costs one
round trip for lock + replay check.

Two implementations of the same rules, both run by every ledger test:
on PostgreSQL each operation is one call of the SQL function
billing_ledger_write (migration 0002: lock, replay check, guard, writes, all
in the server); on SQLite (the embedded default) the Book below decides in
Python and ledger_sql.py writes. The CHECK constraints on Account back both.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from billing import ledger_sql as sql
from billing.models import Account, EntryKind, Hold, LedgerEntry
from podhub.core.exceptions import Conflict, NotFound, ValidationFailed
from podhub.core.money import format_money, quantize

ZERO = Decimal("0")


class InsufficientFunds(Conflict):
    """Not enough available balance."""

    code = "insufficient_funds"

    def __init__(self, *, needed: Decimal, available: Decimal, currency: str):
        missing = quantize(needed - available, currency)
        self.needed = quantize(needed, currency)
        self.available = quantize(max(available, ZERO), currency)
        self.missing = missing
        self.currency = currency
        super().__init__(
            f"Not enough balance: {format_money(self.needed, currency)} needed, "
            f"{format_money(self.available, currency)} available. "
            f"{format_money(missing, currency)} missing.",
            needed=str(self.needed), available=str(self.available), missing=str(missing),
            currency=currency,
        )


class KeyReused(Conflict):
    """This idempotency key was already used for a different operation."""

    code = "idempotency_key_reused"


def ensure_account(workspace_id: int, currency: str | None = None) -> Account:
    """The workspace's Account row, created on first use (race-safe)."""
    acct = Account.objects.filter(workspace_id=workspace_id).first()
    if acct is not None:
        return acct
    if currency is None:
        from podhub.workspaces.models import Workspace

        currency = Workspace.objects.values_list("billing_currency", flat=True).get(
            pk=workspace_id)
    try:
        with transaction.atomic():
            return Account.objects.create(workspace_id=workspace_id, currency=currency)
    except IntegrityError:
        return Account.objects.get(workspace_id=workspace_id)


def _amount(value, currency: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError("money is Decimal, never float")
    amount = Decimal(value)
    if amount != quantize(amount, currency):
        raise ValidationFailed(f"{amount} has more decimals than {currency} allows.")
    return amount


_CURRENCY: dict[int, str] = {}  # an account's currency never changes once it exists


def account_currency(workspace_id: int) -> str:
    if workspace_id not in _CURRENCY:
        _CURRENCY[workspace_id] = ensure_account(workspace_id).currency
    return _CURRENCY[workspace_id]


def in_database() -> bool:
    """PostgreSQL runs each operation inside the server (billing_ledger_write, migration
    0002); SQLite, the embedded default, runs the same rules here in Python."""
    return connection.vendor == "postgresql" and getattr(settings, "BILLING_LEDGER_IN_DB",
                                                         True)


def _pk(value) -> int | None:
    return getattr(value, "pk", value)


@dataclass
class Book:
    """The locked account inside one transaction; posts entries, flushes totals once."""

    workspace_id: int
    acct: Account | None = None
    existing_id: int | None = None
    in_db: bool = False
    ring: bool = False
    posted: list[LedgerEntry] = field(default_factory=list)
    pending: list[LedgerEntry] = field(default_factory=list)
    new_holds: list[Hold] = field(default_factory=list)
    changed_holds: dict[int, Hold] = field(default_factory=dict)
    holds: dict[int, Hold] = field(default_factory=dict)  # read with the lock
    _dirty: bool = False

    @property
    def account(self) -> Account:
        """The locked account row (in the database mode, locked on first use)."""
        if self.acct is None:
            found = sql.lock_account(self.workspace_id, None, None)
            if found is None:
                ensure_account(self.workspace_id)
                found = sql.lock_account(self.workspace_id, None, None)
            self.acct = found[0]
        return self.acct

    @property
    def currency(self) -> str:
        if self.acct is not None:
            return self.acct.currency
        return account_currency(self.workspace_id)

    @property
    def available(self) -> Decimal:
        return self.account.balance_amount - self.account.held_amount

    # --- replay ---------------------------------------------------------------

    def replayed(self, *, kind: str, amount: Decimal | None = None) -> LedgerEntry | None:
        """The entry already posted under this book's key, checked to be the same op."""
        if self.existing_id is None:
            return None
        entry = LedgerEntry.objects.filter(pk=self.existing_id,
                                           workspace_id=self.account.workspace_id).first()
        if entry is None:
            raise KeyReused("This idempotency key is already used.")
        if entry.kind != kind or (amount is not None and entry.amount != amount):
            raise KeyReused(
                f"Idempotency key {entry.idempotency_key!r} was used for a {entry.kind} of "
                f"{format_money(entry.amount, entry.currency)}.")
        return entry

    def next_invoice_number(self) -> str:
        """Invoice numbers run per workspace without gaps (taken under the account lock)."""
        if self.in_db:
            self.account.invoice_seq = sql.next_invoice_seq(self.account.pk)
        else:
            self.account.invoice_seq += 1
            self._dirty = True
        return f"PH{self.account.workspace_id}-{self.account.invoice_seq:06d}"

    # --- the database mode: one call of billing_ledger_write per operation ---------

    def _write(self, op: str, kind: str, amount: Decimal | None, *, key: str,
               hold_id: int | None = None, purpose: str = "", memo: str = "",
               **refs) -> tuple[str, LedgerEntry | None, int | None]:
        ids = {name: refs.get(f"{name}_id", _pk(refs.get(name)))
               for name in ("order", "payment", "top_up", "group", "actor")}
        args = (self.workspace_id, op, str(kind), key, amount, hold_id, purpose, ids["order"],
                ids["payment"], ids["top_up"], ids["group"], ids["actor"], memo[:255],
                refs.get("reason", ""))
        row = sql.ledger_write(*args)
        if row[0] == "no_account":
            ensure_account(self.workspace_id)
            row = sql.ledger_write(*args)
        outcome, entry_id, new_hold, amt, balance, held, debt, currency, below, entry_ws = row
        if outcome == "replay":
            if entry_ws != self.workspace_id:
                raise KeyReused(f"Idempotency key {key!r} is already used.")
            self.existing_id = entry_id
            return outcome, self.replayed(kind=kind, amount=amount if op in (
                "credit", "debit", "reverse", "hold") else None), None
        if self.acct is not None:
            self.acct.balance_amount, self.acct.held_amount = balance, held
            self.acct.debt_amount = debt
        if below is not None and balance - held < below:
            self.ring = True
        if outcome == "insufficient":
            raise InsufficientFunds(needed=amt, available=balance - held, currency=currency)
        if outcome == "no_hold":
            raise NotFound("No such hold in this workspace.")
        if outcome == "too_much":
            raise Conflict(f"Hold {new_hold} has {format_money(amt, currency)} left, not "
                           f"{format_money(amount, currency)}.")
        if outcome == "nothing":
            return outcome, None, new_hold
        entry = LedgerEntry(
            id=entry_id, workspace_id=self.workspace_id, kind=kind, currency=currency,
            amount=amt, idempotency_key=key, memo=memo[:255], reason=refs.get("reason", ""),
            hold_id=new_hold if op in ("hold", "capture", "release") else None,
            order_id=ids["order"], payment_id=ids["payment"], top_up_id=ids["top_up"],
            group_id=ids["group"], actor_id=ids["actor"])
        entry._state.adding = False
        self.posted.append(entry)
        return outcome, entry, new_hold

    def key_used(self, key: str) -> LedgerEntry | None:
        return LedgerEntry.objects.filter(idempotency_key=key).first()

    # --- the one place that writes an entry -------------------------------------

    def post(self, kind: str, amount: Decimal, *, key: str, balance_delta: Decimal = ZERO,
             held_delta: Decimal = ZERO, debt_delta: Decimal = ZERO, memo: str = "",
             **refs) -> LedgerEntry:
        acct = self.account
        balance = acct.balance_amount + balance_delta
        held = acct.held_amount + held_delta
        if held < 0:
            raise Conflict("Cannot release or capture more than is held.")
        if balance - held < 0:
            raise InsufficientFunds(needed=amount, available=self.available,
                                    currency=acct.currency)
        entry = LedgerEntry(
            workspace_id=acct.workspace_id, kind=kind, currency=acct.currency, amount=amount,
            balance_delta=balance_delta, held_delta=held_delta, balance_after=balance,
            held_after=held, idempotency_key=key, memo=memo[:255], **refs,
        )
        hold = refs.get("hold")
        entry._new_hold = hold if hold is not None and hold.pk is None else None
        self.pending.append(entry)  # written by flush(), in one statement on PostgreSQL
        acct.balance_amount = balance
        acct.held_amount = held
        acct.debt_amount += debt_delta
        self._dirty = True
        self.posted.append(entry)
        return entry

    def flush(self) -> None:
        """Write what the operations decided: new holds, entries, hold and account totals.

        Called when the locked block ends; call it earlier to get the new holds' ids."""
        if self.in_db:  # already written, operation by operation
            if self.ring:
                from billing.tasks import auto_recharge_task

                auto_recharge_task.delay(workspace_id=self.workspace_id)
                self.ring = False
            return
        if not (self.pending or self.new_holds or self.changed_holds or self._dirty):
            return
        try:
            with transaction.atomic(savepoint=False):
                sql.flush(self.account, self.new_holds, self.pending,
                          list(self.changed_holds.values()), self._dirty)
        except IntegrityError:
            # The key exists but was not visible to our lock query: another workspace's.
            keys = ", ".join(repr(e.idempotency_key) for e in self.pending)
            raise KeyReused(f"Idempotency key {keys} is already used.") from None
        self.pending, self.new_holds, self.changed_holds = [], [], {}
        self._dirty = False
        acct = self.account
        threshold = acct.recharge_below_amount
        if threshold is not None and self.available < threshold:
            from billing.tasks import auto_recharge_task

            auto_recharge_task.delay(workspace_id=acct.workspace_id)

    # --- operations ----------------------------------------------------------------

    def credit(self, kind: str, amount: Decimal, *, key: str, memo: str = "",
               **refs) -> LedgerEntry:
        """Money in: a top-up, a refund to the balance, a positive adjustment."""
        amount = _amount(amount, self.currency)
        if amount <= 0:
            raise ValidationFailed("A credit must be positive.")
        if self.in_db:
            return self._write("credit", kind, amount, key=key, memo=memo, **refs)[1]
        entry = self.post(kind, amount, key=key, balance_delta=amount, memo=memo, **refs)
        if self.account.debt_amount > 0 and self.available > 0:
            collect = min(self.account.debt_amount, self.available)
            self.post(EntryKind.REVERSAL, collect, key=f"{key}:debt", balance_delta=-collect,
                      debt_delta=-collect, memo="Earlier reversal collected from this credit",
                      top_up=refs.get("top_up"))
        return entry

    def debit(self, kind: str, amount: Decimal, *, key: str, memo: str = "",
              **refs) -> LedgerEntry:
        """Money out of the available balance (a negative staff adjustment)."""
        amount = _amount(amount, self.currency)
        if amount <= 0:
            raise ValidationFailed("A debit must be positive.")
        if self.in_db:
            return self._write("debit", kind, amount, key=key, memo=memo, **refs)[1]
        return self.post(kind, amount, key=key, balance_delta=-amount, memo=memo, **refs)

    def reverse(self, amount: Decimal, *, key: str, memo: str = "", **refs) -> LedgerEntry:
        """Stripe took money back (refund, dispute): take what is available, owe the rest."""
        amount = _amount(amount, self.currency)
        if self.in_db:
            return self._write("reverse", EntryKind.REVERSAL, amount, key=key, memo=memo,
                               **refs)[1]
        take = min(amount, max(self.available, ZERO))
        return self.post(EntryKind.REVERSAL, amount, key=key, balance_delta=-take,
                         debt_delta=amount - take, memo=memo, **refs)

    def hold(self, amount: Decimal, *, key: str, purpose: str, memo: str = "",
             order_id: int | None = None, payment=None) -> Hold:
        amount = _amount(amount, self.currency)
        if amount < 0:
            raise ValidationFailed("A hold cannot be negative.")
        if self.in_db:
            outcome, entry, hold_id = self._write(
                "hold", EntryKind.HOLD, amount, key=key, purpose=purpose, memo=memo,
                order_id=order_id, payment=payment)
            if outcome == "replay":
                return entry.hold
            hold = Hold(id=hold_id, workspace_id=self.workspace_id, purpose=purpose,
                        order_id=order_id, payment_id=_pk(payment), currency=entry.currency,
                        amount=amount, is_open=amount > 0)
            hold._state.adding = False
            return hold
        if amount > self.available:
            raise InsufficientFunds(needed=amount, available=self.available,
                                    currency=self.currency)
        hold = Hold(workspace_id=self.account.workspace_id, purpose=purpose, order_id=order_id,
                    payment=payment, currency=self.currency, amount=amount,
                    is_open=amount > 0)
        self.new_holds.append(hold)  # gets its id at flush()
        self.post(EntryKind.HOLD, amount, key=key, held_delta=amount, memo=memo, hold=hold,
                  order_id=order_id, payment=payment)
        return hold

    def _hold_for_update(self, hold: Hold | int) -> Hold:
        # Hold rows are only written under the account lock we hold: a plain read
        # (READ COMMITTED, after the lock) sees their latest state.
        hold_id = hold.pk if isinstance(hold, Hold) else hold
        found = self.holds.get(hold_id) or sql.read_hold(hold_id, self.account.workspace_id)
        if found is None:
            raise NotFound("No such hold in this workspace.")
        return found

    def _settle(self, hold: Hold | int, amount: Decimal | None, *, kind: str, key: str,
                memo: str, **refs) -> LedgerEntry | None:
        if self.in_db:
            if amount is not None:
                amount = _amount(amount, self.currency)
            op = "capture" if kind == EntryKind.CAPTURE else "release"
            return self._write(op, kind, amount, key=key, memo=memo,
                               hold_id=hold.pk if isinstance(hold, Hold) else hold, **refs)[1]
        hold = self._hold_for_update(hold)
        remaining = hold.remaining_amount
        amount = remaining if amount is None else _amount(amount, self.currency)
        if amount < 0 or amount > remaining:
            raise Conflict(f"Hold {hold.pk} has {format_money(remaining, hold.currency)} left, "
                           f"not {format_money(amount, hold.currency)}.")
        if amount == 0:
            return None
        captured = kind == EntryKind.CAPTURE
        entry = self.post(kind, amount, key=key, held_delta=-amount,
                          balance_delta=-amount if captured else ZERO, memo=memo, hold=hold,
                          order_id=hold.order_id, payment_id=hold.payment_id, **refs)
        if captured:
            hold.captured_amount += amount
        else:
            hold.released_amount += amount
        hold.is_open = hold.remaining_amount > 0
        self.changed_holds[hold.pk] = hold
        self.holds[hold.pk] = hold
        return entry

    def capture(self, hold: Hold | int, amount: Decimal | None = None, *, key: str,
                memo: str = "", **refs) -> LedgerEntry | None:
        """Spend held money (all that is left, or `amount`)."""
        return self._settle(hold, amount, kind=EntryKind.CAPTURE, key=key, memo=memo, **refs)

    def release(self, hold: Hold | int, amount: Decimal | None = None, *, key: str,
                memo: str = "", **refs) -> LedgerEntry | None:
        """Give held money back to available (all that is left, or `amount`)."""
        return self._settle(hold, amount, kind=EntryKind.RELEASE, key=key, memo=memo, **refs)


def _lock(workspace_id: int, key: str | None, hold_id: int | None = None) -> Book:
    """One round trip: lock the account row, look the key up, read the hold to settle."""
    found = sql.lock_account(workspace_id, key, hold_id)
    if found is None:
        ensure_account(workspace_id)
        found = sql.lock_account(workspace_id, key, hold_id)
    acct, existing_id, hold = found
    book = Book(workspace_id=workspace_id, acct=acct, existing_id=existing_id,
                in_db=in_database())
    if hold is not None:
        book.holds[hold.pk] = hold
    return book


@contextmanager
def locked(workspace_id: int, key: str | None = None, hold_id: int | None = None, *,
           single: bool = False) -> Iterator[Book]:
    """Lock the workspace's account for one transaction; flush entries and totals on success.

    `single`: one operation that needs nothing read first. On PostgreSQL it is one
    call of billing_ledger_write, which locks the account row FOR UPDATE itself;
    outside any transaction that statement is its own transaction (all or
    nothing), so the lock is released by the server's commit instead of being
    held while this process waits for a CPU to send COMMIT (docs/benchmarks.md:
    about 2x the throughput on one busy workspace). Inside a transaction, or for
    several operations (bulk pay, groups), everything runs in transaction.atomic
    with the account row locked first."""
    if single and in_database() and not connection.in_atomic_block:
        # One statement is one transaction: lock, checks and writes all happen inside
        # the server, and the row lock is released by the statement's own commit,
        # never held across a round trip to this process.
        book = Book(workspace_id=workspace_id, in_db=True)
        yield book
        book.flush()
        return
    with transaction.atomic():
        if single and in_database():
            book = Book(workspace_id=workspace_id, in_db=True)
        else:
            book = _lock(workspace_id, key, hold_id)
        yield book
        book.flush()


# --- the public operations (one transaction each) ------------------------------------


def credit(*, workspace_id: int, kind: str, amount: Decimal, key: str, memo: str = "",
           **refs) -> LedgerEntry:
    if kind not in (EntryKind.TOP_UP, EntryKind.REFUND, EntryKind.ADJUSTMENT):
        raise ValidationFailed(f"{kind} is not a credit.")
    with locked(workspace_id, key, single=True) as book:
        return book.replayed(kind=kind, amount=Decimal(amount)) or book.credit(
            kind, amount, key=key, memo=memo, **refs)


def debit(*, workspace_id: int, kind: str, amount: Decimal, key: str, memo: str = "",
          **refs) -> LedgerEntry:
    if kind != EntryKind.ADJUSTMENT:
        raise ValidationFailed(f"{kind} is not a debit.")
    with locked(workspace_id, key, single=True) as book:
        return book.replayed(kind=kind, amount=Decimal(amount)) or book.debit(
            kind, amount, key=key, memo=memo, **refs)


def reverse(*, workspace_id: int, amount: Decimal, key: str, memo: str = "",
            **refs) -> LedgerEntry:
    with locked(workspace_id, key, single=True) as book:
        return book.replayed(kind=EntryKind.REVERSAL, amount=Decimal(amount)) or book.reverse(
            amount, key=key, memo=memo, **refs)


def hold_place(*, workspace_id: int, amount: Decimal, key: str,
               purpose: str = "other", memo: str = "", order_id: int | None = None,
               payment=None) -> Hold:
    with locked(workspace_id, key, single=True) as book:
        existing = book.replayed(kind=EntryKind.HOLD, amount=Decimal(amount))
        if existing is not None:
            return existing.hold
        return book.hold(amount, key=key, purpose=purpose, memo=memo, order_id=order_id,
                         payment=payment)


def hold_capture(*, workspace_id: int, hold_id: int, key: str,
                 amount: Decimal | None = None, memo: str = "") -> LedgerEntry | None:
    with locked(workspace_id, key, hold_id, single=True) as book:
        return book.replayed(kind=EntryKind.CAPTURE) or book.capture(
            hold_id, amount, key=key, memo=memo)


def hold_release(*, workspace_id: int, hold_id: int, key: str,
                 amount: Decimal | None = None, memo: str = "") -> LedgerEntry | None:
    with locked(workspace_id, key, hold_id, single=True) as book:
        return book.replayed(kind=EntryKind.RELEASE) or book.release(
            hold_id, amount, key=key, memo=memo)
