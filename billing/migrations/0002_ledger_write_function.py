"""billing_ledger_write(): one ledger operation inside PostgreSQL.

The same rules as billing/ledger.py's Book (which SQLite, the embedded default,
uses): lock the workspace's account row FOR UPDATE, return the existing entry
for a replayed key, refuse what would take available below zero, write the
hold / entry / totals. Running it in the server means the row lock is never
held across a client round trip. tests/billing run every ledger test against
both implementations.
"""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION billing_ledger_write(
    p_ws bigint, p_op text, p_kind text, p_key text, p_amount numeric, p_hold bigint,
    p_purpose text, p_order bigint, p_payment bigint, p_top_up bigint, p_group bigint,
    p_actor bigint, p_memo text, p_reason text, p_now timestamptz)
RETURNS TABLE (outcome text, entry_id bigint, hold_id bigint, amount numeric,
               balance numeric, held numeric, debt numeric, currency text,
               recharge_below numeric, entry_ws bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    a billing_account%ROWTYPE;
    h billing_hold%ROWTYPE;
    v_existing bigint;
    v_existing_ws bigint;
    v_amt numeric := p_amount;
    v_bal numeric := 0;
    v_held numeric := 0;
    v_debt numeric := 0;
    v_hold bigint := p_hold;
    v_order bigint := p_order;
    v_payment bigint := p_payment;
    v_entry bigint;
    v_remaining numeric;
    v_collect numeric;
BEGIN
    SELECT * INTO a FROM billing_account WHERE workspace_id = p_ws FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'no_account'::text, NULL::bigint, NULL::bigint, NULL::numeric,
            NULL::numeric, NULL::numeric, NULL::numeric, NULL::text, NULL::numeric,
            NULL::bigint;
        RETURN;
    END IF;
    SELECT e.id, e.workspace_id INTO v_existing, v_existing_ws
      FROM billing_ledgerentry e WHERE e.idempotency_key = p_key;
    IF v_existing IS NOT NULL THEN
        RETURN QUERY SELECT 'replay'::text, v_existing, NULL::bigint, NULL::numeric,
            a.balance_amount, a.held_amount, a.debt_amount, a.currency::text,
            a.recharge_below_amount, v_existing_ws;
        RETURN;
    END IF;

    IF p_op = 'credit' THEN
        v_bal := v_amt;
    ELSIF p_op = 'debit' THEN
        v_bal := -v_amt;
    ELSIF p_op = 'reverse' THEN
        v_bal := -LEAST(v_amt, GREATEST(a.balance_amount - a.held_amount, 0));
        v_debt := v_amt + v_bal;
    ELSIF p_op = 'hold' THEN
        v_held := v_amt;
    ELSIF p_op IN ('capture', 'release') THEN
        SELECT * INTO h FROM billing_hold WHERE id = p_hold AND workspace_id = p_ws;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'no_hold'::text, NULL::bigint, NULL::bigint, NULL::numeric,
                a.balance_amount, a.held_amount, a.debt_amount, a.currency::text,
                a.recharge_below_amount, NULL::bigint;
            RETURN;
        END IF;
        v_remaining := h.amount - h.captured_amount - h.released_amount;
        v_amt := COALESCE(p_amount, v_remaining);
        IF v_amt < 0 OR v_amt > v_remaining THEN
            RETURN QUERY SELECT 'too_much'::text, NULL::bigint, h.id, v_remaining,
                a.balance_amount, a.held_amount, a.debt_amount, a.currency::text,
                a.recharge_below_amount, NULL::bigint;
            RETURN;
        END IF;
        IF v_amt = 0 THEN
            RETURN QUERY SELECT 'nothing'::text, NULL::bigint, h.id, 0::numeric,
                a.balance_amount, a.held_amount, a.debt_amount, a.currency::text,
                a.recharge_below_amount, NULL::bigint;
            RETURN;
        END IF;
        v_held := -v_amt;
        IF p_op = 'capture' THEN
            v_bal := -v_amt;
        END IF;
        v_order := h.order_id;
        v_payment := h.payment_id;
    ELSE
        RAISE EXCEPTION 'billing_ledger_write: unknown operation %', p_op;
    END IF;

    IF a.held_amount + v_held < 0 OR (a.balance_amount + v_bal) - (a.held_amount + v_held) < 0
    THEN
        RETURN QUERY SELECT 'insufficient'::text, NULL::bigint, NULL::bigint, v_amt,
            a.balance_amount, a.held_amount, a.debt_amount, a.currency::text,
            a.recharge_below_amount, NULL::bigint;
        RETURN;
    END IF;

    IF p_op = 'hold' THEN
        INSERT INTO billing_hold (workspace_id, created_at, updated_at, purpose, order_id,
            payment_id, currency, amount, captured_amount, released_amount, is_open)
        VALUES (p_ws, p_now, p_now, p_purpose, p_order, p_payment, a.currency, v_amt, 0, 0,
            v_amt > 0)
        RETURNING id INTO v_hold;
    ELSIF p_op = 'capture' THEN
        UPDATE billing_hold SET captured_amount = captured_amount + v_amt,
            is_open = v_remaining - v_amt > 0, updated_at = p_now WHERE id = h.id;
    ELSIF p_op = 'release' THEN
        UPDATE billing_hold SET released_amount = released_amount + v_amt,
            is_open = v_remaining - v_amt > 0, updated_at = p_now WHERE id = h.id;
    END IF;

    INSERT INTO billing_ledgerentry (workspace_id, created_at, updated_at, kind, currency,
        amount, balance_delta, held_delta, balance_after, held_after, idempotency_key, memo,
        reason, order_id, hold_id, payment_id, top_up_id, group_id, actor_id)
    VALUES (p_ws, p_now, p_now, p_kind, a.currency, v_amt, v_bal, v_held,
        a.balance_amount + v_bal, a.held_amount + v_held, p_key, p_memo, p_reason, v_order,
        CASE WHEN p_op IN ('hold', 'capture', 'release') THEN v_hold END, v_payment, p_top_up,
        p_group, p_actor)
    RETURNING id INTO v_entry;
    a.balance_amount := a.balance_amount + v_bal;
    a.held_amount := a.held_amount + v_held;
    a.debt_amount := a.debt_amount + v_debt;

    -- a credit pays an outstanding reversal first (available never goes negative)
    IF v_bal > 0 AND a.debt_amount > 0 AND a.balance_amount - a.held_amount > 0 THEN
        v_collect := LEAST(a.debt_amount, a.balance_amount - a.held_amount);
        INSERT INTO billing_ledgerentry (workspace_id, created_at, updated_at, kind, currency,
            amount, balance_delta, held_delta, balance_after, held_after, idempotency_key,
            memo, reason, top_up_id)
        VALUES (p_ws, p_now, p_now, 'reversal', a.currency, v_collect, -v_collect, 0,
            a.balance_amount - v_collect, a.held_amount, p_key || ':debt',
            'Earlier reversal collected from this credit', '', p_top_up);
        a.balance_amount := a.balance_amount - v_collect;
        a.debt_amount := a.debt_amount - v_collect;
    END IF;

    UPDATE billing_account SET balance_amount = a.balance_amount,
        held_amount = a.held_amount, debt_amount = a.debt_amount, updated_at = p_now
    WHERE id = a.id;
    RETURN QUERY SELECT 'ok'::text, v_entry, v_hold, v_amt, a.balance_amount, a.held_amount,
        a.debt_amount, a.currency::text, a.recharge_below_amount, p_ws;
END
$fn$;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)  # the body has "%" of its own


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP FUNCTION IF EXISTS billing_ledger_write(bigint, text, text, text, numeric, "
            "bigint, text, bigint, bigint, bigint, bigint, bigint, text, text, timestamptz)")


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
