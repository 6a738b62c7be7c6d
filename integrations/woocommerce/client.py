"""The WooCommerce REST v3 client: the official `woocommerce` library (3.0.0) per store,
its requests sent through the outbound HTTP policy (podhub/core/outbound.py).

`woocommerce.API` builds `{url}/wp-json/wc/v3/{endpoint}` and authenticates with
HTTP Basic over HTTPS (or the keys as query parameters with
`query_string_auth`), or with a one-legged OAuth 1.0a signature over plain HTTP
(INTEGRATIONS.md §2.1, §2.6). The library sends with `requests.request`, which no
policy can reach, so `_PolicyAPI` keeps the library's URL building, auth choice and
OAuth signature and hands the request to the policy's httpx client instead: the store
URL is a seller's input, and the consumer keys must never reach an address the policy
refuses. This wrapper checks the status, classifies failures, and retries transient
ones (transport errors, timeouts, 429, 5xx) a few times with backoff and jitter.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import httpx
from woocommerce import API

from podhub.core import outbound

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30  # the library's default of 5 s is too short for big order pages
PAGE_SIZE = 50  # per_page; the WP REST cap is 100
MAX_ANSWER_BYTES = 32 * 1024 * 1024  # a page of 100 orders is a few MB at most


class WooError(Exception):
    """Any failure talking to the store; the transient ones are plain WooError."""

    def __init__(self, message: str, *, status: int | None = None, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code


class WooAuthError(WooError):
    """401/403: the keys are wrong, revoked, or lack the permission."""


class WooUserError(WooError):
    """Another 4xx: the store refused the request; retrying does not help."""


class WooRefused(WooUserError):
    """PodHub's outbound policy refused the store's address: nothing was sent."""


def _reason(resp: httpx.Response) -> tuple[str, str]:
    """(code, message) of a WordPress REST error (`{code, message, data}`); anything else
    gives nothing, so what some other server answered is never stored or shown."""
    try:
        body = resp.json()
    except ValueError:
        return "", ""
    if isinstance(body, dict) and isinstance(body.get("code"), str) \
            and isinstance(body.get("message"), str):
        return body["code"][:100], body["message"][:300]
    return "", ""


class _PolicyAPI(API):
    """`woocommerce.API` whose private `__request` sends through the outbound policy
    (one connection per request, as the library did)."""

    def _API__request(self, method, endpoint, data, params=None, **kwargs):
        params = dict(params or {})
        url = self._API__get_url(endpoint)
        auth = None
        headers = {"user-agent": self.user_agent, "accept": "application/json"}
        if self.is_ssl and not self.query_string_auth:
            auth = httpx.BasicAuth(self.consumer_key, self.consumer_secret)
        elif self.is_ssl:
            params.update(consumer_key=self.consumer_key, consumer_secret=self.consumer_secret)
        else:  # the library signs the whole URL, query included, with OAuth 1.0a
            url = self._API__get_oauth_url(f"{url}?{urlencode(params)}", method)
            params = {}
        body = None
        if data is not None:  # encoded as the library does
            body = json.dumps(data, ensure_ascii=False).encode("utf-8")
            headers["content-type"] = "application/json;charset=utf-8"
        with outbound.client(timeout=self.timeout, max_bytes=MAX_ANSWER_BYTES) as http:
            return http.request(method, url, params=params or None, content=body,
                                headers=headers, auth=auth)


class WooClient:
    """One store. `sleep` is a parameter so tests and benchmarks never wait for real."""

    def __init__(self, *, url: str, consumer_key: str, consumer_secret: str,
                 timeout: float = DEFAULT_TIMEOUT, max_retries: int = 3,
                 query_string_auth: bool = False, sleep: Callable[[float], None] = time.sleep):
        self.api = _PolicyAPI(url=url, consumer_key=consumer_key,
                              consumer_secret=consumer_secret, version="wc/v3",
                              timeout=timeout, query_string_auth=query_string_auth,
                              user_agent="PodHub (WooCommerce-Python-REST-API/3.0.0)")
        self.max_retries = max_retries
        self.sleep = sleep

    def close(self) -> None:  # a connection per request: nothing stays open
        return None

    def request(self, method: str, endpoint: str, data: dict | None = None,
                params: dict | None = None) -> httpx.Response:
        attempt = 0
        while True:
            try:
                if method in ("POST", "PUT"):
                    resp = getattr(self.api, method.lower())(endpoint, data,
                                                             params=dict(params or {}))
                else:
                    resp = getattr(self.api, method.lower())(endpoint,
                                                             params=dict(params or {}))
            except outbound.OutboundError as exc:
                raise WooRefused(f"{method} {endpoint}: {exc.message}") from None
            except httpx.HTTPError as exc:
                error: WooError = WooError(f"{method} {endpoint}: {exc.__class__.__name__}")
                if method == "POST" and not isinstance(exc, httpx.ConnectError):
                    raise error from None  # it may have been done: see below
            else:
                if resp.status_code < 300:
                    return resp
                code, message = _reason(resp)
                text = f"{method} {endpoint}: HTTP {resp.status_code} {code} {message}".strip()
                if resp.status_code in (401, 403):
                    raise WooAuthError(text, status=resp.status_code, code=code)
                if resp.status_code != 429 and resp.status_code < 500:
                    raise WooUserError(text, status=resp.status_code, code=code)
                error = WooError(text, status=resp.status_code, code=code)
                if method == "POST" and resp.status_code != 429:
                    # A POST creates (a note, a webhook, a refund): after a 5xx or a timeout
                    # it may have been done, its answer lost (a proxy's 504). Sent again
                    # here it would be done twice (the fault drill found two tracking
                    # notes); the outbox retries later and its handlers look first.
                    raise error
            attempt += 1
            if attempt > self.max_retries:
                raise error
            delay = min(30.0, 0.5 * 2 ** attempt) * (0.5 + random.random() / 2)  # noqa: S311
            log.info("WooCommerce %s; retry %s in %.1fs", error, attempt, delay)
            self.sleep(delay)

    def get(self, endpoint: str, **params) -> httpx.Response:
        return self.request("GET", endpoint, params=params)

    def post(self, endpoint: str, data: dict) -> dict:
        return self.request("POST", endpoint, data=data).json()

    def put(self, endpoint: str, data: dict) -> dict:
        return self.request("PUT", endpoint, data=data).json()

    # --- helpers --------------------------------------------------------------------

    def order(self, order_id: str) -> dict:
        return self.get(f"orders/{order_id}").json()

    def orders_page(self, *, page: int, per_page: int = PAGE_SIZE, **filters) -> tuple[
            list[dict], int, int]:
        """(orders, total, total pages) of one page, read from X-WP-Total(Pages)."""
        resp = self.get("orders", page=page, per_page=per_page, **filters)
        total = int(resp.headers.get("X-WP-Total") or 0)
        pages = int(resp.headers.get("X-WP-TotalPages") or 0)
        return resp.json(), total, pages

    def order_refunds(self, order_id: str) -> list[dict]:
        """GET /orders/<id>/refunds, every page: each refund's `line_items` name the order
        lines it took back (negative `quantity`, `_refunded_item_id`)."""
        refunds: list[dict] = []
        page = 1
        while True:
            resp = self.get(f"orders/{order_id}/refunds", page=page, per_page=100)
            refunds.extend(resp.json() or [])
            if page >= int(resp.headers.get("X-WP-TotalPages") or 1):
                return refunds
            page += 1

    def create_refund(self, order_id: str, data: dict) -> dict:
        """POST /orders/<id>/refunds exactly once: a refund moves the buyer's money, so a
        timeout or a 5xx is never retried blindly here (the caller reads the order's
        refunds before trying again). A gateway that cannot refund answers HTTP 500
        `woocommerce_rest_cannot_create_order_refund`."""
        once = copy.copy(self)
        once.max_retries = 0
        return once.request("POST", f"orders/{order_id}/refunds", data=data).json()

    def iter_orders(self, *, max_pages: int = 1000, **filters) -> Iterator[dict]:
        page = 1
        while page <= max_pages:
            orders, _, pages = self.orders_page(page=page, **filters)
            yield from orders
            if page >= pages or not orders:
                return
            page += 1
