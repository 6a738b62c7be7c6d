"""`{{ url|safe_url }}`: the one filter every user, store or provider URL goes through
before it reaches an href or src ("" for anything but a valid http(s) URL). A template
builtin (settings TEMPLATES), so no template needs to load it."""

from django import template

from podhub.core.links import http_url

register = template.Library()


@register.filter
def safe_url(value) -> str:
    return http_url(value)
