"""gunicorn app for the webhook benchmark: PodHub's URLs plus the reference endpoint.

The reference is the ~20 lines of plain Django the issue describes: HMAC check,
one INSERT, one task publish. It runs in the same project, middleware and
processes as PodHub's real endpoint, so only the endpoints differ.
"""

import base64
import hashlib
import hmac
import os

from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

application = get_wsgi_application()

REF_SECRET = os.environ.get("BENCH_REF_SECRET", "ref-secret").encode()


@csrf_exempt
def reference(request):  # the reference endpoint, ~20 lines
    body = request.body
    given = request.headers.get("X-Shopify-Hmac-Sha256", "").encode()
    expected = base64.b64encode(hmac.new(REF_SECRET, body, hashlib.sha256).digest())
    if not hmac.compare_digest(given, expected):
        return HttpResponse(status=401)
    with connection.cursor() as cur:
        cur.execute("INSERT INTO bench_reference_inbox (event_id, topic, body) "
                    "VALUES (%s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
                    [request.headers.get("X-Shopify-Event-Id", ""),
                     request.headers.get("X-Shopify-Topic", ""), body.decode()])
    from podhub.celery import app

    app.send_task("bench.reference_noop", kwargs={"event": request.headers.get(
        "X-Shopify-Event-Id", "")})
    return HttpResponse(status=200)


@csrf_exempt
def bare(request):
    return HttpResponse(status=200)


urlpatterns = [
    path("bench/reference/", reference),
    path("bench/bare/", bare),
    path("", include("podhub.urls")),
]
