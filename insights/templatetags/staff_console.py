from django import template

from insights.staff import staff_queues

register = template.Library()


@register.simple_tag
def staff_queue_list():
    """The admin index's queues (templates/admin/index.html)."""
    return staff_queues()
