"""GET /healthz: database, broker and worker heartbeat; 503 when one is down."""


from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from podhub.celery import app as celery_app
from podhub.core.models import Heartbeat


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # any failure is the answer, not an error
        return {"ok": False, "error": exc.__class__.__name__}


def _broker() -> dict:
    try:
        with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            channel = conn.default_channel
            client = getattr(channel, "client", None)
            if client is not None and hasattr(client, "ping"):
                client.ping()  # Redis connects lazily: ask it for real
            transport = conn.transport_cls
        return {"ok": True, "transport": str(transport)}
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__}


def _worker(now) -> dict:
    try:
        beat = Heartbeat.objects.filter(name="worker").values_list("beat_at", flat=True).first()
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__}
    if beat is None:
        return {"ok": False, "error": "no heartbeat yet"}
    age = (now - beat).total_seconds()
    ok = age <= settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS
    return {"ok": ok, "last_beat": beat.isoformat(), "age_seconds": round(age, 1)}


@require_GET
def healthz(request):
    now = timezone.now()
    checks = {"database": _database(), "broker": _broker()}
    checks["worker"] = _worker(now) if checks["database"]["ok"] else {"ok": False,
                                                                         "error": "no database"}
    healthy = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks, "time": now.isoformat()},
        status=200 if healthy else 503,
    )


