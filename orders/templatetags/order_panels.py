from django import template
from django.urls import reverse

from orders.panels import panels

register = template.Library()


@register.inclusion_tag("orders/_panels.html")
def order_panels(order):
    return {"panels": [
        {"url": reverse(p.url_name, kwargs={"order_id": order.pk}), "title": p.title,
         "id": p.element_id}
        for p in panels()
    ]}
