"""The Etsy Open API v3 client: one shop's calls through the outbound HTTP policy
(podhub/core/outbound.py), with the app's `x-api-key`, the shop's OAuth token (refreshed
when it is about to expire or is refused once), and Etsy's rate limits kept.

Etsy's pages this follows (docs/etsy.md lists them all):
- requests: https://developers.etsy.com/documentation/essentials/requests
  (`x-api-key: <keystring>` — or `<keystring>:<shared secret>`, the newer form — and
  `Authorization: Bearer <user id>.<token>`)
- rate limits: https://developers.etsy.com/documentation/essentials/rate-limits
  (x-limit-per-second, x-remaining-this-second, x-limit-per-day, x-remaining-today on
  every answer; 429 without them when a limit is reached; a sliding 24-hour window)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import httpx

from podhub.core import outbound

TIMEOUT = 20
#: a 429 asking to wait at most this long is waited for inside the call; longer ends it
MAX_INLINE_WAIT = 2.0


class EtsyError(Exception):
    """Any failure talking to Etsy; plain EtsyError is transient (retried later)."""

    def __init__(self, message: str, *, status: int | None = None, code: str = ""):
        super().__init__(message)
        self.status, self.code = status, code


class EtsyAuthError(EtsyError):
    """Etsy refuses PodHub's access to the shop (401/403, or `invalid_grant` on refresh:
    the seller removed the app or the grant expired): the seller must connect again."""


class EtsyUserError(EtsyError):
    """Another 4xx: Etsy refused this call for good."""


class EtsyRateLimited(EtsyError):
    """429, or the day's budget is kept for pushes: try again after `retry_after` s."""

    def __init__(self, message: str, *, retry_after: float):
        super().__init__(message, status=429, code="rate_limited")
        self.retry_after = retry_after


@dataclass
class Budget:
    """What Etsy's last answer said of the app's limits (None: not told yet)."""

    per_second: int | None = None
    remaining_this_second: int | None = None
    per_day: int | None = None
    remaining_today: int | None = None

    @classmethod
    def of(cls, headers) -> Budget | None:
        def number(name):
            try:
                return int(headers[name])
            except (KeyError, ValueError):
                return None
        budget = cls(number("x-limit-per-second"), number("x-remaining-this-second"),
                     number("x-limit-per-day"), number("x-remaining-today"))
        return budget if budget.per_day is not None else None

    def as_dict(self) -> dict:
        return asdict(self)


def _reason(response: httpx.Response) -> tuple[str, str]:
    """(error, description) of Etsy's error body `{"error": …, "error_description": …}`."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return (str(body.get("error") or "")[:200], str(body.get("error_description") or "")[:300])


def raise_for(response: httpx.Response, *, what: str) -> None:
    if response.status_code < 400:
        return
    error, description = _reason(response)
    text = f"{what}: Etsy answered {response.status_code}" + (
        f" ({error}{': ' + description if description else ''})" if error else "")
    status = response.status_code
    if status == 429:
        try:
            wait = float(response.headers.get("retry-after") or 1)
        except ValueError:
            wait = 1.0
        raise EtsyRateLimited(text, retry_after=wait)
    if status in (401, 403) or error == "invalid_grant":
        raise EtsyAuthError(text, status=status, code=error)
    if 400 <= status < 500:
        raise EtsyUserError(text, status=status, code=error)
    raise EtsyError(text, status=status, code=error)


class EtsyClient:
    """One shop's client. `tokens` gives the access token (`current()`) and a new one
    when Etsy refused it (`renew(refused)`); `on_budget` hears every answer's limits.
    `reserve`: GETs stop (EtsyRateLimited) when fewer calls than this are left today, so
    reading never spends what tracking pushes need."""

    def __init__(self, *, base: str, api_key: str, tokens, shop_id: str = "",
                 reserve: int = 0, max_retries: int = 2,
                 on_budget: Callable[[Budget], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.base = base.rstrip("/")
        self.api_key = api_key
        self.tokens = tokens
        self.shop_id = str(shop_id)
        self.reserve = reserve
        self.max_retries = max(1, max_retries)
        self.on_budget = on_budget
        self.sleep, self.clock = sleep, clock
        self.budget: Budget | None = None
        self.calls = 0
        self._last_call = 0.0
        self._http = outbound.client(timeout=TIMEOUT)

    def close(self) -> None:
        self._http.close()

    def _pace(self) -> None:
        """Stay under the per-second limit Etsy told us (10 until told)."""
        per_second = (self.budget.per_second if self.budget and self.budget.per_second
                      else 10)
        wait = self._last_call + 1.0 / per_second - self.clock()
        if wait > 0:
            self.sleep(wait)
        self._last_call = self.clock()

    def request(self, method: str, path: str, *, params: dict | None = None,
                form: dict | None = None) -> dict:
        if method == "GET" and self.budget and self.budget.remaining_today is not None \
                and self.budget.remaining_today <= self.reserve:
            raise EtsyRateLimited(
                f"Etsy's daily budget is down to {self.budget.remaining_today} calls, kept "
                "for tracking pushes; reading resumes as the 24-hour window frees calls.",
                retry_after=600)
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            token = self.tokens.current()
            self._pace()
            try:
                response = self._http.request(
                    method, f"{self.base}{path}", params=params, data=form,
                    headers={"x-api-key": self.api_key, "authorization": f"Bearer {token}",
                             "accept": "application/json"})
            except outbound.OutboundError as exc:
                raise EtsyUserError(f"PodHub's outbound policy refused Etsy's address: "
                                    f"{exc}") from None
            except httpx.HTTPError as exc:
                if attempt < self.max_retries:
                    continue
                raise EtsyError(f"Etsy did not answer ({type(exc).__name__}).") from None
            self.calls += 1
            budget = Budget.of(response.headers)
            if budget is not None:
                self.budget = budget
                if self.on_budget:
                    self.on_budget(budget)
            if response.status_code == 401 and not renewed:
                # expired early or rotated elsewhere: one new token, then the call again
                renewed = True
                self.tokens.renew(token)
                continue
            try:
                raise_for(response, what=f"{method} {path}")
            except EtsyAuthError as exc:
                if response.status_code == 401:  # refused again with a new token: revoked
                    self.tokens.revoked(exc.code or "401")
                raise
            except EtsyRateLimited as exc:
                if exc.retry_after <= MAX_INLINE_WAIT and attempt < self.max_retries:
                    self.sleep(exc.retry_after)
                    continue
                raise
            except EtsyError as exc:
                if type(exc) is EtsyError and attempt < self.max_retries:
                    continue
                raise
            try:
                return response.json()
            except ValueError:
                raise EtsyError(f"{method} {path}: Etsy's answer is not JSON.") from None

    # --- the calls PodHub makes ----------------------------------------------------------

    def me(self) -> dict:
        return self.request("GET", "/application/users/me")

    def shop(self, shop_id: str) -> dict:
        return self.request("GET", f"/application/shops/{shop_id}")

    def receipts(self, **params) -> dict:
        """getShopReceipts: {count, results}."""
        return self.request("GET", f"/application/shops/{self.shop_id}/receipts",
                            params={k: v for k, v in params.items() if v is not None})

    def receipt(self, receipt_id: str) -> dict:
        return self.request("GET", f"/application/shops/{self.shop_id}/receipts/{receipt_id}")

    def create_receipt_shipment(self, receipt_id: str, *, tracking_code: str,
                                carrier_name: str, note_to_buyer: str = "") -> dict:
        form = {"tracking_code": tracking_code, "carrier_name": carrier_name,
                "send_bcc": "false"}
        if note_to_buyer:
            form["note_to_buyer"] = note_to_buyer
        return self.request("POST",
                            f"/application/shops/{self.shop_id}/receipts/{receipt_id}/tracking",
                            form=form)
