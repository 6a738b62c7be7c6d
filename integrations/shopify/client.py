"""The Admin GraphQL client: httpx through the outbound HTTP policy
(podhub/core/outbound.py), one instance per store, no global session.

Cost-aware: every response carries `extensions.cost.throttleStatus`
(maximumAvailable, currentlyAvailable, restoreRate); before the next call the
client estimates what the bucket holds now and waits until the query's cost
fits, so in normal operation Shopify never has to throttle it. A THROTTLED
error or a 429 still gets a wait and a retry; 5xx and timeouts retry with
exponential backoff and jitter. Auth failures and user errors are not retried.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from podhub.core import outbound

log = logging.getLogger(__name__)

USER_AGENT = outbound.USER_AGENT
# A GraphQL page of 50 orders x 10 lines is well under 1 MB.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


class ShopifyError(Exception):
    """Base of every failure talking to a store."""

    retryable = False


class ShopifyUnavailable(ShopifyError):
    """The store did not answer usefully (5xx, timeout, throttled) even after retries."""

    retryable = True


class ShopifyThrottled(ShopifyUnavailable):
    """The cost bucket needs longer to refill than the caller will wait (`max_wait`):
    try again after `retry_after` seconds. Raised before a call is sent, never after."""

    def __init__(self, message: str, *, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class ShopifyAuthError(ShopifyError):
    """401/403: the token is revoked, expired or lacks a scope."""


class ShopifyQueryError(ShopifyError):
    """The query itself was refused (GraphQL errors other than throttling)."""


class ShopifyUserError(ShopifyError):
    """A mutation answered with userErrors."""

    def __init__(self, message: str, errors: list | None = None):
        super().__init__(message)
        self.errors = errors or []


@dataclass
class Bucket:
    """What we know of the store's leaky bucket, from the last response."""

    maximum: float = 0.0
    available: float = 0.0
    restore_rate: float = 0.0
    at: float = 0.0

    def known(self) -> bool:
        return self.restore_rate > 0

    def now_available(self, now: float) -> float:
        return min(self.maximum, self.available + (now - self.at) * self.restore_rate)


@dataclass
class Stats:
    calls: int = 0
    throttled: int = 0
    http_429: int = 0
    retries: int = 0
    waited_seconds: float = 0.0
    actual_cost: float = 0.0
    requested_cost: float = 0.0
    costs: dict = field(default_factory=dict)


class AdminClient:
    """GraphQL Admin API of one shop.

    `token` may be a callable returning the current token (refreshing it when
    it expires): the client never caches credentials beyond one call.
    """

    def __init__(
        self, *, base_url: str, token: str | Callable[[], str], api_version: str,
        timeout: float = 10.0, max_retries: int = 6, backoff_base: float = 0.5,
        backoff_max: float = 30.0, sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic, max_wait: float | None = None,
    ):
        self.url = f"{base_url.rstrip('/')}/admin/api/{api_version}/graphql.json"
        self._token = token
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.sleep = sleep
        self.clock = clock
        # the longest wait for the cost bucket before a call; beyond it ShopifyThrottled
        # (a worker slot is not held asleep for a push: integrations/platforms/shopify.py)
        # — unless this client has sent a mutation already, whose follow-up must not be
        # left half done
        self.max_wait = max_wait
        self.wrote = False
        self.http = outbound.client(timeout=timeout, max_bytes=MAX_ANSWER_BYTES)
        self.bucket = Bucket()
        self.stats = Stats()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the call ---------------------------------------------------------------

    def _wait_for(self, cost: float) -> None:
        if not self.bucket.known() or cost <= 0:
            return
        cost = min(cost, self.bucket.maximum)
        have = self.bucket.now_available(self.clock())
        if have < cost:
            # one point spare: the store's bucket and ours are floats restored by time
            wait = (cost + 1 - have) / self.bucket.restore_rate
            if self.max_wait is not None and wait > self.max_wait and not self.wrote:
                raise ShopifyThrottled(f"THROTTLED: the store's cost bucket needs {wait:.1f} s "
                                       "to refill", retry_after=wait)
            self.stats.waited_seconds += wait
            self.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        delay = min(self.backoff_max, self.backoff_base * (2 ** attempt))
        return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto

    def _read_cost(self, body: dict, query: str) -> dict | None:
        cost = (body.get("extensions") or {}).get("cost")
        if not isinstance(cost, dict):
            return None
        status = cost.get("throttleStatus") or {}
        try:
            self.bucket = Bucket(
                maximum=float(status["maximumAvailable"]),
                available=float(status["currentlyAvailable"]),
                restore_rate=float(status["restoreRate"]),
                at=self.clock(),
            )
        except (KeyError, TypeError, ValueError):
            return cost
        requested = cost.get("requestedQueryCost")
        if isinstance(requested, int | float):
            self.stats.costs[query] = float(requested)
        return cost

    def execute(self, query: str, variables: dict | None = None) -> dict:
        """Run one query or mutation; return its `data`. Raises a ShopifyError."""
        payload = json.dumps({"query": query, "variables": variables or {}})
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            self._wait_for(self.stats.costs.get(query, 0.0))
            token = self._token() if callable(self._token) else self._token
            headers = {"X-Shopify-Access-Token": token, "Content-Type": "application/json",
                       "Accept": "application/json"}
            self.stats.calls += 1
            self.wrote = self.wrote or query.lstrip().startswith("mutation")
            try:
                resp = self.http.post(self.url, content=payload, headers=headers,
                                      timeout=self.timeout)
            except outbound.OutboundError as exc:
                raise ShopifyQueryError(f"PodHub's outbound policy refused the call: "
                                        f"{exc.message}") from None
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last_problem = exc.__class__.__name__
                self._retry(attempt, last_problem)
                continue
            if resp.status_code in (401, 403):
                raise ShopifyAuthError(f"HTTP {resp.status_code} from the store"
                                       f"{answer_reason(resp)}")
            if resp.status_code == 429:
                self.stats.http_429 += 1
                last_problem = "HTTP 429"
                try:
                    retry_after = float(resp.headers.get("Retry-After", "1"))
                except ValueError:
                    retry_after = 1.0
                self.stats.retries += 1
                if attempt >= self.max_retries:
                    break
                self.sleep(max(retry_after, self._backoff(attempt)))
                continue
            if resp.status_code >= 500:
                last_problem = f"HTTP {resp.status_code}"
                self._retry(attempt, last_problem)
                continue
            if resp.status_code != 200:
                raise ShopifyQueryError(f"HTTP {resp.status_code}{answer_reason(resp)}")
            try:
                body = resp.json()
            except ValueError:
                last_problem = "the store answered with something that is not JSON"
                self._retry(attempt, last_problem)
                continue
            cost = self._read_cost(body, query)
            errors = body.get("errors") or []
            if any(((e.get("extensions") or {}).get("code") == "THROTTLED") for e in errors
                   if isinstance(e, dict)):
                self.stats.throttled += 1
                self.stats.retries += 1
                last_problem = "THROTTLED"
                if attempt >= self.max_retries:
                    break
                requested = float((cost or {}).get("requestedQueryCost") or 0)
                if requested:
                    self.stats.costs[query] = requested
                if not self.bucket.known():
                    self.sleep(self._backoff(attempt))
                continue
            if errors:
                messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else
                                     str(e) for e in errors)
                raise ShopifyQueryError(messages[:500])
            if cost:
                self.stats.actual_cost += float(cost.get("actualQueryCost") or 0)
                self.stats.requested_cost += float(cost.get("requestedQueryCost") or 0)
            return body.get("data") or {}
        raise ShopifyUnavailable(f"the store did not answer after {self.max_retries + 1} "
                                 f"tries ({last_problem})")

    def _retry(self, attempt: int, problem: str) -> None:
        self.stats.retries += 1
        log.info("shopify call failed (%s), attempt %s", problem, attempt + 1)
        if attempt < self.max_retries:
            self.sleep(self._backoff(attempt))


def answer_reason(resp: httpx.Response) -> str:
    """": <Shopify's errors>" from a JSON error answer, else "": an answer that is not
    Shopify's error shape is never copied into a message that is stored or shown."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    errors = body.get("errors") or body.get("error_description") or body.get("error") \
        if isinstance(body, dict) else None
    if isinstance(errors, str):
        return f": {errors[:200]}"
    if isinstance(errors, list) and all(isinstance(e, dict) for e in errors):
        return ": " + "; ".join(str(e.get("message", ""))[:200] for e in errors[:3])
    return ""


def user_errors(payload: dict | None, *keys: str) -> list:
    """The userErrors (or named error lists) of a mutation payload."""
    if not payload:
        return []
    found = []
    for key in ("userErrors", *keys):
        found.extend(payload.get(key) or [])
    return found
