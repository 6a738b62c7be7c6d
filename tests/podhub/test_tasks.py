import pytest
from django_scopes import ScopeError

from podhub.celery import WorkspaceTask, app
from podhub.workspaces.models import Membership


@app.task(base=WorkspaceTask)
def _member_emails_task(*, workspace_id: int) -> list[str]:
    return sorted(m.user.email for m in Membership.objects.select_related("user"))


@app.task
def _unscoped_task() -> int:
    return Membership.objects.count()


def test_workspace_task_runs_inside_its_workspace_scope(owner, other_owner):
    result = _member_emails_task.apply(kwargs={"workspace_id": owner.workspace_id}).get()
    assert result == ["owner@acme.test"]


def test_a_task_without_a_workspace_cannot_read_tenant_data(owner):
    with pytest.raises(ScopeError):
        _unscoped_task.apply(throw=True).get()


def test_delay_sends_nothing_when_the_transaction_rolls_back(
    owner, django_capture_on_commit_callbacks
):
    from django.db import transaction

    with django_capture_on_commit_callbacks() as callbacks:
        try:
            with transaction.atomic():
                _member_emails_task.delay(workspace_id=owner.workspace_id)
                raise RuntimeError("rollback")
        except RuntimeError:
            pass
    assert callbacks == []
