"""Reactions to order events (called after the order's transaction commits).

The work itself is derived from rows: an OrderCharge with open holds and an
order state that says "capture" or "release". The subscriber only rings the
doorbell (a task, sent on commit); billing_sweep_task finds whatever a lost
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


def charges_doorbell(workspace_id: int) -> str:
    return f"billing:charges:{workspace_id}"


def on_order_event(*, event_id: int, workspace_id: int, type: str) -> None:
    from billing import tasks
    from podhub.core.doorbell import ring_once

    if type in SYNC_EVENTS:
        # one task per workspace for a burst (the submit sweep moves orders by the
        # hundred); the task syncs every charge of the workspace that needs it
        ring_once(tasks.order_charges_sync_task, key=charges_doorbell(workspace_id),
                  workspace_id=workspace_id)
    elif type == "shipment.shipped":
        tasks.shipment_capture_task.delay_on_commit(workspace_id=workspace_id,
                                                    order_event_id=event_id)
    elif type in AUTO_PAY_EVENTS:
        tasks.auto_pay_task.delay_on_commit(workspace_id=workspace_id, order_event_id=event_id)
