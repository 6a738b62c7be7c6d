"""Links that came from outside (a buyer, a seller, a store, a provider): what may be kept
and rendered. Only absolute http(s) URLs; `javascript:`, `data:` and everything else is
dropped. Stored values are checked where they arrive (`http_url`), and every such URL
rendered in a template goes through the `safe_url` filter (podhub/core/templatetags/links.py)
as a second line (docs/security.md)."""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

MAX_LENGTH = 2000
_valid = URLValidator(schemes=["http", "https"])


def http_url(value, *, max_length: int = MAX_LENGTH) -> str:
    """The URL if it is a valid absolute http(s) URL no longer than `max_length`, else ""."""
    text = str(value or "").strip()
    if not text or len(text) > max_length:
        return ""
    try:
        _valid(text)
    except ValidationError:
        return ""
    return text
