"""Reads for the dashboard, the API and the admin (docs/webhooks.md)."""

from django.db.models import Prefetch

from podhub.core.exceptions import NotFound
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

LOG_LIMIT = 200


def endpoint_list(*, workspace) -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(workspace=workspace).order_by("pk"))


def endpoint_get(*, workspace, endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(workspace=workspace, pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint in this workspace.")
    return endpoint


def delivery_list(*, workspace, endpoint: WebhookEndpoint, status: str | None = None,
                  limit: int = LOG_LIMIT) -> list[WebhookDelivery]:
    """The endpoint's delivery log, newest first."""
    return list(deliveries(workspace=workspace, endpoint=endpoint, status=status)
                .order_by("-pk")[:limit])


def deliveries(*, workspace, endpoint: WebhookEndpoint, status: str | None = None):
    """The endpoint's deliveries (without their bodies), as a queryset to page through."""
    qs = WebhookDelivery.objects.filter(workspace=workspace, endpoint=endpoint)
    if status:
        if status not in DeliveryStatus.values:
            from podhub.core.exceptions import ValidationFailed

            raise ValidationFailed("status: pending, delivered or failed.",
                                   fields={"status": "pending, delivered or failed"})
        qs = qs.filter(status=status)
    return qs.defer("body")


def delivery_get(*, workspace, endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    """A delivery with its attempts (newest first)."""
    delivery = (WebhookDelivery.objects.filter(workspace=workspace, endpoint=endpoint,
                                               pk=delivery_id)
                .prefetch_related(Prefetch("attempt_log",
                                           queryset=WebhookAttempt.objects.order_by("-number")))
                .first())
    if delivery is None:
        raise NotFound("No such delivery for this endpoint.")
    return delivery
