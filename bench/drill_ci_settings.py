"""Settings for `bench/fault_drill.py --ci` (about a minute of arrivals, in CI): the drill's
settings (bench/drill_settings.py) with every sweep that picks up lost work ticking every
20 s instead of 60 s or 5 min (the stores' reconcile every 30 s instead of 10 min), the
providers' polling safety net at 30 s, and the leases of a claimed store push or factory
send at 60 s instead of 5 min.

Why: in a one-minute drill a doorbell lost in a fault (a Redis restart drops the queue,
a PostgreSQL restart fails the task) is found by the next tick of its sweep; at
production's intervals that is up to a minute after the fault (10 minutes for a
WooCommerce webhook, which only the reconcile finds), longer than CI can wait. The
code paths are production's; only the timers are shorter. The sweeps' leases follow
(half an interval, podhub/core/sweeps.py). The full drill keeps production's intervals
(docs/benchmarks.md, "Fault drill").
"""

from bench.drill_settings import *  # noqa: F403
from bench.drill_settings import CELERY_BEAT_SCHEDULE

FULFILLMENT_POLL_SAFETY_NET_HOURS = 30 / 3600
for _name in ("quotes-pricing-sweep", "billing-sweep", "printfiles-render-sweep",
              "fulfillment-submit-sweep", "fulfillment-poll-sweep", "integrations-sweep"):
    CELERY_BEAT_SCHEDULE[_name]["schedule"] = 20.0
# A WooCommerce webhook lost in a fault is never retried by the store (WooCommerce does not
# retry deliveries); the reconcile sweep re-reads the store's changed orders, every 10 min
# in production, here every 30 s.
CELERY_BEAT_SCHEDULE["integrations-reconcile"]["schedule"] = 30.0
# A push or a send claimed by a worker that is then SIGKILLed (or whose PostgreSQL
# restarts) is taken again when its lease ends: 5 minutes in production, here 60 s (the
# sandboxes answer at once, so no push or send in the drill lasts near that; a second
# claim while the first still ran would show as a push or a factory order twice).
INTEGRATIONS_OUTBOX_LEASE_SECONDS = 60
FULFILLMENT_SEND_LEASE_SECONDS = 60

