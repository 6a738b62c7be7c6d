"""Staff's "Retry now" on store pushes (admin): it calls the outbox service
(integrations.services.outbox.outbox_retry_now; docs/architecture.md, "admin actions
call services"): waiting and failed pushes go out now, done ones are left alone."""

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone
from django_scopes import scopes_disabled

from integrations import tasks
from integrations.models import OutboxKind, OutboxMessage, OutboxStatus
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db


def test_retry_now_sends_failed_and_waiting_pushes_again(workspace, admin_client,
                                                          monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.outbox_deliver_task, "delay",
                        lambda **kwargs: sent.append(kwargs))
    store = StoreFactory(workspace=workspace)
    later = timezone.now() + timedelta(hours=3)
    with scopes_disabled():
        failed, waiting, done = (
            OutboxMessage.objects.create(workspace=workspace, store=store,
                                         kind=OutboxKind.FULFILLMENT_CREATE, key=f"k{n}",
                                         status=status, attempts=4, next_attempt_at=later,
                                         last_error="503 from the store")
            for n, status in enumerate([OutboxStatus.FAILED, OutboxStatus.PENDING,
                                        OutboxStatus.DONE]))

    response = admin_client.post("/admin/integrations/outboxmessage/", {
        "action": "retry_now", ACTION_CHECKBOX_NAME: [failed.pk, waiting.pk, done.pk]})

    assert response.status_code == 302
    with scopes_disabled():
        for msg in (failed, waiting, done):
            msg.refresh_from_db()
    assert failed.status == waiting.status == OutboxStatus.PENDING
    assert failed.next_attempt_at < later and waiting.next_attempt_at < later
    assert done.status == OutboxStatus.DONE and done.next_attempt_at == later
    assert sorted(s["message_id"] for s in sent) == sorted([failed.pk, waiting.pk])
    assert {s["workspace_id"] for s in sent} == {workspace.pk}
