"""The embedded default runs on SQLite, where the ledger's Python Book and plain
SQL (billing/ledger_sql.py) do the work: run them for real in a subprocess."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import json, django
    django.setup()
    from decimal import Decimal as D
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    from django_scopes import scopes_disabled
    from billing import ledger
    from billing.models import Account, EntryKind, Hold, LedgerEntry
    from podhub.workspaces.models import Workspace
    out = {}
    with scopes_disabled():
        ws = Workspace.objects.create(name="x")
        ledger.credit(workspace_id=ws.pk, kind=EntryKind.TOP_UP, amount=D("100.50"), key="t")
        h = ledger.hold_place(workspace_id=ws.pk, amount=D("30.25"), key="h")
        ledger.hold_capture(workspace_id=ws.pk, hold_id=h.pk, amount=D("10"), key="c")
        ledger.hold_release(workspace_id=ws.pk, hold_id=h.pk, key="r")
        ledger.hold_capture(workspace_id=ws.pk, hold_id=h.pk, amount=D("10"), key="c")
        ledger.reverse(workspace_id=ws.pk, amount=D("95"), key="rev")
        ledger.credit(workspace_id=ws.pk, kind=EntryKind.TOP_UP, amount=D("10"), key="t2")
        try:
            ledger.hold_place(workspace_id=ws.pk, amount=D("1000"), key="big")
        except ledger.InsufficientFunds as exc:
            out["missing"] = str(exc.missing)
        a = Account.objects.get()
        out["account"] = [str(a.balance_amount), str(a.held_amount), str(a.debt_amount)]
        out["entries"] = [[e.kind, str(e.amount), str(e.balance_after), e.hold_id is not None]
                          for e in LedgerEntry.objects.order_by("pk")]
        out["hold"] = [str(v) for v in Hold.objects.values_list(
            "captured_amount", "released_amount", "is_open").get()]
    print(json.dumps(out))
""")


def test_ledger_on_sqlite(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "podhub.settings.base",
           "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "PODHUB_VAR_DIR": str(tmp_path),
           "CELERY_BROKER_URL": "memory://", "CACHE_URL": "locmemcache://",
           "LOG_LEVEL": "WARNING"}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # 100.50 in, 10 captured, 20.25 released; Stripe took back 95 of the 90.50
    # available (4.50 owed), and the next 10 paid that debt first
    assert out["account"] == ["5.500", "0.000", "0.000"]
    assert out["missing"] == "994.50"
    kinds = [e[0] for e in out["entries"]]
    assert kinds == ["top_up", "hold", "capture", "release", "reversal", "top_up", "reversal"]
    assert out["entries"][1][3] and out["entries"][2][3]  # hold entries point at the hold
    assert out["hold"] == ["10.000", "20.250", "False"]
