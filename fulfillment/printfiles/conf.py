"""Print-file settings: Django settings when set there, else the environment.

    PRINTFILES_MAX_UPLOAD_MB        largest buyer image or upload accepted (50)
    PRINTFILES_MAX_PIXELS           largest image decoded, in pixels (120 000 000)
    PRINTFILES_DOWNLOAD_TIMEOUT     seconds for a whole image download (20)
    PRINTFILES_PNG_LEVEL            zlib level of print-file PNGs (1: docs/benchmarks.md)
    PRINTFILES_RENDER_STALE_SECONDS a running render older than this is retried (600)
    PRINTFILES_MAX_ATTEMPTS         renders failing this often stay failed (3)
    PRINTFILES_SIGNED_URL_SECONDS   how long a provider's signed file link works (72 h)
"""

from django.conf import settings

from podhub.env import env


def _get(name: str, cast, default):
    value = getattr(settings, name, None)
    if value is not None:
        return value
    return getattr(env, cast)(name, default=default)


def max_upload_bytes() -> int:
    return _get("PRINTFILES_MAX_UPLOAD_MB", "int", 50) * 1024 * 1024


def max_pixels() -> int:
    return _get("PRINTFILES_MAX_PIXELS", "int", 120_000_000)


def download_timeout() -> float:
    return float(_get("PRINTFILES_DOWNLOAD_TIMEOUT", "float", 20.0))


def png_level() -> int:
    return _get("PRINTFILES_PNG_LEVEL", "int", 1)


def stale_seconds() -> int:
    return _get("PRINTFILES_RENDER_STALE_SECONDS", "int", 600)


def max_attempts() -> int:
    return _get("PRINTFILES_MAX_ATTEMPTS", "int", 3)


def signed_url_seconds() -> int:
    return _get("PRINTFILES_SIGNED_URL_SECONDS", "int", 72 * 3600)
