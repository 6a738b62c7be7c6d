"""A doorbell rung many times while one is still waiting rings once.

A burst of order events (the submit sweep moves hundreds of orders a second)
would otherwise publish one Celery message per event for work that one task
can do for the whole workspace. `ring_once` sends the task only when none for
the same key is waiting; the task calls `answered(key)` before it reads its
rows, so whatever commits after that rings again. A lost task is what the
sweeps are for; the key also expires.
"""

import logging

from django.core.cache import cache

log = logging.getLogger(__name__)

PREFIX = "doorbell:"
# How long a sweep's ring for one row silences the next tick's, unless the task
# answered meanwhile: a few ticks, so a ring lost with the broker costs minutes at most.
SWEEP_TTL = 300


def ring_once(task, *, key: str, ttl: int = 30, from_sweep: bool = False, **kwargs) -> bool:
    """Send task(**kwargs) (a follow-up) unless one for `key` is waiting. True if sent.
    Call it once the change has committed (PodhubTask.follow_up_once does).

    `from_sweep`: a sweep's ring for one row, sent with `delay`. When the workers are
    behind, a row stays due while its ring waits in the queue; without the key every
    tick would queue it again, and the backlog would grow by the sweep's own rings
    (the fault drill saw thousands). A ring lost with the broker is rung again once
    `ttl` has passed (`SWEEP_TTL`), or at once when the cache went with it."""
    try:
        waiting = not cache.add(PREFIX + key, 1, ttl)
    except Exception:  # no cache: ring every time rather than lose the work
        log.warning("doorbell %s: cache unavailable, ringing anyway", key, exc_info=True)
        waiting = False
    if waiting:
        return False
    (task.delay if from_sweep else task.follow_up)(**kwargs)
    return True


def answered(key: str) -> None:
    """Called by the task before it reads: later rings send a new task."""
    try:
        cache.delete(PREFIX + key)
    except Exception:
        log.warning("doorbell %s: cache unavailable", key, exc_info=True)
