"""Which order events billing reacts to (subscribed in billing/apps.py).

The work itself is derived from rows: an OrderCharge with open holds and an
order state that says "capture" or "release". The subscription only rings the
doorbell (a task, sent after commit); billing_sweep_task finds whatever a lost
task left behind.
"""

# submitted -> capture product; shipped/completed -> capture shipping;
# cancelled -> release what was not captured yet; each parcel shipped -> its share of
# shipping (the rest when the order is shipped).
SYNC_EVENTS = frozenset({"order.submitted", "order.in_production", "order.shipped",
                         "order.completed", "order.cancelled"})
# order.store_paid: an order that waited for the buyer's payment in the store.
AUTO_PAY_EVENTS = frozenset({"order.priced", "order.released", "order.imported",
                             "order.created", "order.store_paid"})


CHARGES_DOORBELL = "billing:charges"


def charges_doorbell(workspace_id: int) -> str:
    return f"{CHARGES_DOORBELL}:{workspace_id}"
