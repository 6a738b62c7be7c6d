from django.apps import AppConfig


class OpsConfig(AppConfig):
    """The operator's side: /metrics and backups (docs/operations.md). The top app:
    it reads every other app's tables and nothing imports it."""

    name = "ops"
    verbose_name = "Operations"
