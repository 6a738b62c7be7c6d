from django.apps import AppConfig


class SandboxesConfig(AppConfig):
    """Only for the management commands that start the simulators."""

    name = "sandboxes"
    verbose_name = "Sandboxes (simulators)"
