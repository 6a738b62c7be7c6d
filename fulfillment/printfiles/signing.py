"""Time-limited signed links to print files, for providers.

A factory fetches the files of an order by URL, without a session. The link
names one `PrintFile` (one version of one side of one line) and carries a
signature over it and the time it was made (`django.core.signing`, keyed by
SECRET_KEY with its own salt): `<PODHUB_PUBLIC_URL>/files/print/<token>/`.

    signed_url(pf)        the link (an S3 presigned URL instead, when the files
                          live in a bucket with query-string auth)
    print_file_for(token) the file, or SignedLinkRefused(403 tampered, 410 expired)

Valid for PRINTFILES_SIGNED_URL_SECONDS (default 72 h: long enough for a factory
that fetches the files when it starts production, short enough that a leaked
link dies on its own). A link is made afresh every time a submission is sent.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django_scopes import scopes_disabled

from fulfillment.models import PrintFile
from fulfillment.printfiles import conf

SALT = "podhub.printfiles.provider-link"


class SignedLinkRefused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Signer(signing.TimestampSigner):
    """A TimestampSigner whose clock is a parameter (links made "at" a given time)."""

    def __init__(self, *, now: datetime | None = None):
        super().__init__(salt=SALT)
        self._now = now

    def timestamp(self) -> str:
        if self._now is None:
            return super().timestamp()
        return signing.b62_encode(int(self._now.timestamp()))


def _presigned(pf: PrintFile, seconds: int) -> str:
    """The storage's own expiring URL when it has one (S3 with query-string auth)."""
    storage = pf.file.storage
    if getattr(storage, "querystring_auth", False) and hasattr(storage, "bucket_name"):
        return storage.url(pf.file.name, expire=seconds)
    return ""


def signed_url(pf: PrintFile, *, now: datetime | None = None,
               seconds: int | None = None) -> str:
    """An absolute link a provider can fetch without logging in, valid `seconds`."""
    seconds = seconds or conf.signed_url_seconds()
    presigned = _presigned(pf, seconds)
    if presigned:
        return presigned
    token = _Signer(now=now).sign(str(pf.pk))
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return base + reverse("fulfillment:signed_print_file", args=[token])


def print_file_for(token: str, *, max_age: int | None = None) -> PrintFile:
    """The print file a link names; refused when tampered with (403) or too old (410)."""
    max_age = max_age or conf.signed_url_seconds()
    try:
        value = _Signer().unsign(token, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise SignedLinkRefused(410, "This print-file link has expired.") from exc
    except signing.BadSignature as exc:
        raise SignedLinkRefused(403, "This print-file link is not valid.") from exc
    if not value.isdigit():
        raise SignedLinkRefused(403, "This print-file link is not valid.")
    # A signed link is its own permission: the lookup is by primary key across
    # workspaces, like a provider webhook's (STYLE.md §2.4).
    with scopes_disabled():
        pf = PrintFile.objects.select_related("order").filter(pk=int(value)).first()
    if pf is None or not pf.file:
        raise SignedLinkRefused(404, "This print file no longer exists.")
    return pf

