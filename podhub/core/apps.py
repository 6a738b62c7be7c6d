from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "podhub.core"
    label = "core"
    verbose_name = "PodHub core"
