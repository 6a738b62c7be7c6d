from django import template
from django.urls import reverse

from orders.panels import next_steps, panels

register = template.Library()


@register.inclusion_tag("orders/_panels.html")
def order_panels(order):
    return {"panels": [
        {"url": reverse(p.url_name, kwargs={"order_id": order.pk}), "title": p.title,
         "id": p.element_id}
        for p in panels()
    ]}


@register.simple_tag
def order_next_steps(order):
    """What the order waits for now, from the apps that do it (orders/panels.py)."""
    return next_steps(order)
