"""Workspaces are the tenants: a workspace owns everything a seller has."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_scopes import ScopedManager

from podhub.core.models import WorkspaceModel


class Workspace(models.Model):
    name = models.CharField(max_length=120)
    billing_currency = models.CharField(max_length=3, default="USD")
    # The seller's clock: the dashboard shows times in it and Home's "today" starts at its
    # midnight (podhub/workspaces/middleware.py). The API keeps UTC.
    time_zone = models.CharField(max_length=64, default="UTC")
    # made-to-order: a catalog order goes to production as soon as it is paid, without
    # "Submit now" (quotes/checkout.py; Settings -> Workspace)
    launch_catalog_orders = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


MANAGING_ROLES = frozenset({Role.OWNER, Role.ADMIN})


class Membership(WorkspaceModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGING_ROLES


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


INVITATION_DAYS = 7


class Invitation(WorkspaceModel):
    """An e-mailed invitation; only the hash of its token is kept."""

    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_open_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.workspace}"

    @staticmethod
    def new_token() -> tuple[str, str]:
        token = secrets.token_urlsafe(32)
        return token, _hash(token)

    @staticmethod
    def hash_token(token: str) -> str:
        return _hash(token)

    @staticmethod
    def default_expiry(now=None):
        return (now or timezone.now()) + timedelta(days=INVITATION_DAYS)

    def is_open(self, now=None) -> bool:
        now = now or timezone.now()
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > now


class ApiToken(WorkspaceModel):
    """`Authorization: Token <key>`: the key is shown once; only its hash is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80, default="API token")
    prefix = models.CharField(max_length=8)
    key_hash = models.CharField(max_length=64, unique=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def new_key() -> tuple[str, str]:
        key = "ph_" + secrets.token_urlsafe(30)
        return key, _hash(key)

    @staticmethod
    def hash_key(key: str) -> str:
        return _hash(key)
