import pytest
from django.urls import reverse

from mastercopy.celery import app


@pytest.mark.django_db
def test_health_reports_the_database_and_broker(client):
    response = client.get(reverse("health"))

    body = response.json()
    assert body["database"] == "ok"
    assert set(body) == {"status", "database", "broker", "workers", "worker_count"}
    assert response.status_code == (200 if body["broker"] == "ok" else 503)


@pytest.mark.django_db
def test_health_says_degraded_when_the_broker_is_down(client, monkeypatch):
    # Celery prefers the CELERY_BROKER_URL environment variable to its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(app, "_pool", None, raising=False)

    response = client.get(reverse("health"))

    assert response.status_code == 503
    assert response.json()["broker"].startswith("down")
    assert response.json()["status"] == "degraded"
