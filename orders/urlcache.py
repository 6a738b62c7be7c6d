"""reverse() for URLs without arguments, once per process instead of once per use.

The order list is the dashboard's hot path (bench/orders_list.py): Django's
reverse() costs 40-70 us a call here, and a full page named about twenty URLs.
A URL without arguments only changes with the script prefix (and a per-request
URLconf), so both are part of the key.
"""

from django.urls import get_script_prefix, get_urlconf, reverse

_urls: dict[tuple, str] = {}


def const_url(name: str) -> str:
    key = (name, get_script_prefix(), get_urlconf())
    url = _urls.get(key)
    if url is None:
        url = _urls[key] = reverse(name)
    return url


def id_url(name: str, kwarg: str) -> str:
    """A pattern for a URL with one integer argument: id_url(...).format(order_id)."""
    key = (name, kwarg, get_script_prefix(), get_urlconf())
    url = _urls.get(key)
    if url is None:
        url = _urls[key] = reverse(name, kwargs={kwarg: 999999999}).replace("999999999", "{}")
    return url
