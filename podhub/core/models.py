"""Shared model bases, and the worker heartbeat that /healthz reads."""

from django.db import models
from django.utils import timezone


class WorkspaceModel(models.Model):
    """Every tenant-owned row carries its own workspace, so scoping is one filter.

    Concrete subclasses declare ``objects = ScopedManager(workspace="workspace")``:
    a query on them outside ``scope(workspace=...)`` raises ScopeError.
    """

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Heartbeat(models.Model):
    """One row per background process kind, touched by a periodic task."""

    name = models.CharField(max_length=64, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"
