"""What the clients of the public providers' REST APIs share: one call with the
error mapping of base.py (5xx, 429, timeouts -> ProviderUnavailable with the
provider's `Retry-After` / `X-Ratelimit-Reset` hint; 401/403 -> CredentialsRejected,
recorded on the connection; other 4xx -> ProviderRefused with the provider's own
message) and the address helpers."""

from __future__ import annotations

import json

from fulfillment.providers.base import (
    CredentialsRejected,
    ProviderClient,
    ProviderRefused,
    ProviderUnavailable,
    retry_after,
)


class RestClient(ProviderClient):
    default_base = ""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.api_base = self.api_base or self.default_base

    def _request(self, method: str, path: str, *, what: str, ok_missing: bool = False,
                 **kwargs):
        """One call; 2xx -> parsed JSON, 404 with ok_missing -> None, else our errors."""
        import httpx

        try:
            if self.http is not None:  # a kept-alive client, when one is set
                response = self.http.request(method, f"{self.api_base}{path}",
                                             timeout=self.timeout, **kwargs)
            else:
                with self._http() as http:
                    response = http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(f"{self.code} {what}: timed out after "
                                      f"{self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{self.code} {what}: {type(exc).__name__}: {exc}") \
                from exc
        status = response.status_code
        if status == 429 or status >= 500:
            wait = retry_after(response)
            hint = f"; retry in {wait} s" if wait is not None else ""
            raise ProviderUnavailable(f"{self.code} {what}: HTTP {status} "
                                      f"({message_of(response)}){hint}", retry_after=wait)
        if status == 404 and ok_missing:
            return None
        if status in (401, 403):
            error = CredentialsRejected(f"{self.code} {what}: HTTP {status} "
                                        f"({message_of(response)}): the key was refused")
            error.status = status
            self.credentials_rejected(error.message)
            raise error
        if status >= 400:
            error = ProviderRefused(f"{self.code} {what}: HTTP {status} "
                                    f"({message_of(response)})")
            error.status = status
            raise error
        try:
            return response.json() if response.content else {}
        except ValueError as exc:
            raise ProviderUnavailable(f"{self.code} {what}: the answer is not JSON") from exc

    def _create_or_find(self, reference: str, create, *, taken_words: tuple[str, ...]):
        """`create()`; when the provider refuses our reference as already used (an
        earlier attempt, a racing worker), the order made under it is the answer.
        Returns (what create answered, None) or (None, the RemoteOrder found)."""
        try:
            return create(), None
        except ProviderRefused as exc:
            words = exc.message.lower()
            if getattr(exc, "status", 0) in (400, 409, 422) and any(
                    w in words for w in taken_words):
                existing = self.lookup(reference)
                if existing is not None:
                    return None, existing
            raise


def message_of(response) -> str:
    """The provider's own words for an error answer."""
    try:
        data = response.json()
    except ValueError:
        return (response.text or "").strip()[:200] or response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("reason") or error)[:200]
        errors = data.get("errors")  # Printify: "Validation failed." + {"reason": ...}
        if isinstance(errors, dict) and errors.get("reason"):
            return f"{data.get('message') or 'error'}: {errors['reason']}"[:200]
        for key in ("message", "error", "detail", "msg"):
            if data.get(key):
                return str(data[key])[:200]
    return json.dumps(data)[:200]


def split_name(recipient: dict) -> tuple[str, str]:
    first = str(recipient.get("first_name") or "").strip()
    last = str(recipient.get("last_name") or "").strip()
    if first or last:
        return first, last
    name = str(recipient.get("name") or "").strip()
    first, _, last = name.partition(" ")
    return first, last


def full_name(recipient: dict) -> str:
    return str(recipient.get("name") or " ".join(split_name(recipient))).strip()


def country(recipient: dict) -> str:
    return str(recipient.get("country_code") or recipient.get("country") or "").upper()


def state(recipient: dict) -> str:
    return str(recipient.get("province_code") or recipient.get("state_code")
               or recipient.get("province") or recipient.get("state") or "")


def line_id(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
