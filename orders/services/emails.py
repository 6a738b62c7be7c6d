"""What orders tells the seller by e-mail: a row in the outbox (podhub/core/mail.py),
written in the caller's transaction, to the workspace's owners and admins."""

from django.conf import settings

from orders import hooks
from orders.models import Order
from podhub.core import mail


def _email_seller(order: Order, *, subject: str, body: str) -> None:
    from podhub.workspaces.models import Membership, Role

    recipients = list(
        Membership.objects.filter(workspace_id=order.workspace_id,
                                  role__in=[Role.OWNER, Role.ADMIN])
        .values_list("user__email", flat=True)
    )
    if not recipients:
        return
    url = f"{settings.PUBLIC_BASE_URL}/orders/{order.pk}/"
    mail.send(to=recipients, subject=f"[PodHub] {subject}", body=body, link=url,
              link_label=f"Open order {order.number}", workspace_id=order.workspace_id)


def _email_cancelled(order: Order, *, subject: str, body: str) -> None:
    """The seller's cancel e-mail: it says "refunded" only once the store confirmed
    (order_store_cancel_result sends that one)."""
    if hooks.store_takes_cancels(order):
        tail = ("PodHub is cancelling the order in your store and asking it to refund the "
                "buyer; you will get another e-mail once the store confirms.")
    else:
        tail = ("This order's store is not connected to PodHub: cancel it and refund the "
                "buyer where it was sold.")
    _email_seller(order, subject=subject, body=f"{body}\n\n{tail}")
