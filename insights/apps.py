from django.apps import AppConfig


class InsightsConfig(AppConfig):
    """Read-only figures for the dashboard: profit and production times (top layer)."""

    name = "insights"
