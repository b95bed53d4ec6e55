"""/health: database, broker and worker status for load balancers and monitoring (no data exposed)."""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from .celery import app


def _database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is "down", with its class for the operator
        return f"down ({type(exc).__name__})"


def _broker():
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return f"down ({type(exc).__name__})"


def _workers():
    try:
        replies = app.control.ping(timeout=1.0) or []
    except Exception as exc:  # noqa: BLE001
        return f"unknown ({type(exc).__name__})", 0
    return ("ok" if replies else "none answering"), len(replies)


@never_cache
def health(request):
    database, broker = _database(), _broker()
    workers, count = _workers() if broker == "ok" else ("unknown", 0)
    healthy = database == "ok" and broker == "ok"
    body = {"database": database, "broker": broker, "workers": workers, "worker_count": count}
    return JsonResponse({"status": "ok" if healthy else "degraded", **body}, status=200 if healthy else 503)
