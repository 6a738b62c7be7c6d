"""`Idempotency-Key` for the seller API's POSTs that create or move orders and money
(docs/api.md "Idempotency"; the semantics are Stripe's and the IETF draft
"The Idempotency-Key HTTP Header Field").

A view opts in with `idempotent = True` (podhub/core/api.py WorkspaceApi); the
header stays optional. With it:

- the first request claims the key (one row, unique per workspace and key,
  committed before the action runs), runs, and its answer is stored;
- the same key with the same method, path and body answers the stored answer
  again (same status and body, header `Idempotent-Replayed: true`), without
  running anything;
- the same key with another request: 422 `idempotency_key_reused`;
- the same key while the first request still runs: 409 `idempotency_key_in_use`;
- a 400 (nothing ran) or a 5xx (we failed) frees the key: the client may fix or
  retry the request under the same key;
- a key still "running" after RUNNING_LEASE belonged to a request whose process died
  (gunicorn's worker timeout is far shorter): it has no answer to give back, so the next
  request under the key takes it over and runs, as it would under a new key.

Keys live KEY_TTL (24 hours); `prune` (the e-mail sweep) deletes older ones, and an
expired key is taken again as new.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.http.request import RawPostDataException
from django.utils import timezone
from django_scopes import scopes_disabled
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from podhub.core.exceptions import Conflict, PodhubError, ValidationFailed
from podhub.core.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_TTL = timedelta(hours=24)
RUNNING_LEASE = timedelta(minutes=5)
MAX_KEY_LENGTH = 255
# Headers a replay gives back as the first answer had them.
KEPT_HEADERS = ("Location",)


class KeyReused(PodhubError):
    status = 422
    code = "idempotency_key_reused"


class KeyInUse(Conflict):
    code = "idempotency_key_in_use"


class Replay(Exception):
    """Raised from a view's `initial()` to answer the stored response instead."""

    def __init__(self, response: Response):
        self.response = response


def _key_of(request) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            f"{HEADER}: send 1 to {MAX_KEY_LENGTH} printable characters (a UUID is best).",
            fields={HEADER: f"1 to {MAX_KEY_LENGTH} printable characters."})
    return key


def fingerprint(request) -> str:
    """What makes two requests "the same": method, path and body. A JSON body counts by
    its content (key order and spacing do not matter); any other body by its bytes."""
    raw = request._request
    if raw.content_type == "multipart/form-data":
        # Parsed, never read whole (an upload may be larger than a body we hold in memory):
        # its fields, and each file by its content.
        body = json.dumps(sorted((key, [_part(v) for v in values])
                                 for key, values in request.data.lists())).encode()
    else:
        try:
            body = raw.body
        except RawPostDataException:  # already streamed by a parser
            body = json.dumps(sorted(raw.POST.lists())).encode()
    if "json" in (raw.content_type or ""):
        with contextlib.suppress(ValueError):
            body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256()
    for part in (raw.method.encode(), raw.path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _part(value) -> str:
    if not hasattr(value, "chunks"):
        return str(value)
    digest = hashlib.sha256()
    for chunk in value.chunks():
        digest.update(chunk)
    value.seek(0)
    return f"file:{value.name}:{digest.hexdigest()}"


def begin(request, *, workspace, now: datetime | None = None) -> IdempotencyKey | None:
    """Claim the request's key, or raise: Replay (answered before), KeyReused (another
    request), Conflict (still running). None when the request has no key."""
    key = _key_of(request)
    if key is None:
        return None
    now = now or timezone.now()
    token = request.auth if getattr(request.auth, "pk", None) else None
    fields = {"user_id": getattr(request.user, "pk", None),
              "token_id": token.pk if token else None,
              "method": request.method, "path": request._request.path[:500],
              "fingerprint": fingerprint(request)}
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(workspace=workspace, key=key, created_at=now,
                                                 **fields)
    except IntegrityError:
        pass
    with transaction.atomic():
        first = IdempotencyKey.objects.select_for_update().get(workspace=workspace, key=key)
        expired = first.created_at < now - KEY_TTL  # a new request under an old key
        orphaned = first.status_code is None and first.created_at < now - RUNNING_LEASE
        if expired or orphaned:
            for name, value in {**fields, "created_at": now, "status_code": None,
                                "response_body": None, "response_headers": {}}.items():
                setattr(first, name, value)
            first.save()
            return first
    if first.status_code is None:
        raise KeyInUse(f"A request with this {HEADER} is still running: retry when it ends.")
    if (first.method, first.path, first.fingerprint) != \
            (fields["method"], fields["path"], fields["fingerprint"]):
        raise KeyReused(
            f"This {HEADER} was used for another request ({first.method} {first.path} with "
            "another body): use a new key for a new request.",
            first_request=f"{first.method} {first.path}")
    response = Response(first.response_body, status=first.status_code,
                        headers={**first.response_headers, REPLAYED_HEADER: "true"})
    raise Replay(response)


def finish(record: IdempotencyKey, response) -> None:
    """Store the first answer; a 400 (nothing ran) or a 5xx frees the key."""
    if response.status_code == 400 or response.status_code >= 500:
        release(record)
        return
    data = getattr(response, "data", None)
    record.status_code = response.status_code
    record.response_body = json.loads(json.dumps(data, cls=JSONEncoder))
    record.response_headers = {h: response[h] for h in KEPT_HEADERS if response.has_header(h)}
    record.save(update_fields=["status_code", "response_body", "response_headers",
                               "updated_at"])


def release(record: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=record.pk).delete()


def prune(*, now: datetime | None = None) -> int:
    """Delete keys older than KEY_TTL (every workspace's)."""
    with scopes_disabled():
        deleted, _ = IdempotencyKey.objects.filter(
            created_at__lt=(now or timezone.now()) - KEY_TTL).delete()
    return deleted
