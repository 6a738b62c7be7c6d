import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from podhub.core.models import Heartbeat
from podhub.core.tasks import heartbeat_task

pytestmark = pytest.mark.django_db


def test_healthy_when_database_broker_and_worker_heartbeat_are_fine(client):
    heartbeat_task()  # what the worker runs every 15 s
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["database"]["ok"]
    assert body["checks"]["broker"]["ok"]
    assert body["checks"]["worker"]["ok"]


def test_503_when_the_worker_heartbeat_is_stale(client):
    Heartbeat.objects.create(name="worker", beat_at=timezone.now() - timedelta(minutes=10))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["ok"] is False


def test_503_before_any_worker_ever_ran(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["error"] == "no heartbeat yet"


@pytest.fixture
def broker_down(settings):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"


def test_503_when_the_broker_is_down(client, broker_down):
    heartbeat_task()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
