"""Rate limits of the seller API, per API token (or per dashboard user), docs/api.md
"Rate limits".

Two budgets, reads (GET, HEAD, OPTIONS) and writes, each a fixed window counted in
the shared cache (Redis in production: one atomic INCR per request). Every answer
carries the IETF draft's headers (draft-ietf-httpapi-ratelimit-headers):
`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds) and
`RateLimit-Policy` ("600;w=60"); past the limit, 429 `throttled` with
`Retry-After`. The rates are settings (PODHUB_API_RATE_READ / _WRITE).

Requests without valid credentials (no token, a bad or revoked one) have a third,
smaller budget per client address (PODHUB_API_RATE_ANONYMOUS), checked before
authentication answers 401: guessing tokens or hammering the API without one is
throttled like any caller (docs/api.md "Rate limits").
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

READ_METHODS = ("GET", "HEAD", "OPTIONS")
PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400,
           "day": 86400}


@dataclass(frozen=True)
class Budget:
    limit: int
    window: int  # seconds
    remaining: int
    reset: int  # seconds until the window ends

    def headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": str(self.limit),
                "RateLimit-Remaining": str(self.remaining),
                "RateLimit-Reset": str(self.reset),
                "RateLimit-Policy": f"{self.limit};w={self.window}"}


def parse_rate(rate: str) -> tuple[int, int]:
    """"600/min" -> (600, 60); also "10/s", "1000/hour", "120/5m"."""
    count, _, period = rate.partition("/")
    digits = "".join(c for c in period if c.isdigit()) or "1"
    unit = period[len(digits):] if period[:1].isdigit() else period
    return int(count), int(digits) * PERIODS[unit.strip().lower()]


def spend(*, kind: str, who: str, now: float) -> tuple[bool, Budget]:
    """Count one request against `who`'s `kind` budget; (allowed, what is left)."""
    limit, window = parse_rate(settings.PODHUB_API_RATES[kind])
    start = int(now // window) * window
    key = f"ratelimit:{kind}:{who}:{start}"
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window + 1)
        count = 1
    reset = max(1, math.ceil(start + window - now))
    return count <= limit, Budget(limit=limit, window=window,
                                  remaining=max(0, limit - count), reset=reset)


class ApiRateThrottle(BaseThrottle):
    """DRF throttle: one budget per caller and kind (read/write)."""

    def timer(self) -> float:  # tests replace it (no sleeps)
        return time.time()

    def allow_request(self, request, view) -> bool:
        who = self.caller(request)
        if who is None:  # no credentials: check_anonymous() counted it already
            return True
        kind = "read" if request.method in READ_METHODS else "write"
        allowed, self.budget = spend(kind=kind, who=who, now=self.timer())
        request._request.rate_limit = self.budget  # the headers (podhub/core/api.py)
        return allowed

    def wait(self) -> float | None:
        return self.budget.reset  # Retry-After: when the window ends

    def check_anonymous(self, request) -> None:
        """A request the middleware found no workspace for: one budget per client
        address, spent before DRF answers 401; past it, 429 (raises Throttled)."""
        address = get_adapter(request._request).get_client_ip(request._request)
        allowed, budget = spend(kind="anonymous", who=f"ip:{address}", now=self.timer())
        request._request.rate_limit = budget
        if not allowed:
            raise Throttled(wait=budget.reset)

    @staticmethod
    def caller(request) -> str | None:
        token = request.auth
        if getattr(token, "pk", None) is not None:
            return f"token:{token.pk}"
        user = request.user
        if getattr(user, "pk", None) is not None:
            return f"user:{user.pk}"
        return None
