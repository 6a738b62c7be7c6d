"""Settings for bench/fault_drill.py: production-like (podhub.settings.base), with the
providers' polling safety net compressed so a drill of minutes can show it.

A factory status callback lost in a fault (the sandbox factory tries 3 times at once)
is caught by the poll sweep once the submission has been quiet for
FULFILLMENT_POLL_SAFETY_NET_HOURS (6 h in production); here 2 minutes, and the poll
sweep runs every 60 s instead of 5 min. Every other interval is production's.
"""

import bench.task_cpu  # noqa: F401 - CPU per task name, when the drill asks for it
from podhub.settings.base import *  # noqa: F403
from podhub.settings.base import CELERY_BEAT_SCHEDULE

FULFILLMENT_POLL_SAFETY_NET_HOURS = 2 / 60
CELERY_BEAT_SCHEDULE["fulfillment-poll-sweep"]["schedule"] = 60.0
