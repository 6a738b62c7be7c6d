"""Settings for `bench/webhooks_bench.py --drill`: production's (podhub.settings.base), with
the sellers' webhook retry schedule 60 times shorter (5 s → 0.08 s … 12 h → 12 min), so a
drill of minutes goes through the retries a 10-minute receiver outage causes in
production. The sweep that sends due retries keeps production's 15 s."""

from podhub.settings.base import *  # noqa: F403

PODHUB_WEBHOOK_RETRY_SCALE = 1 / 60
