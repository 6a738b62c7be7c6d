from django.apps import AppConfig
from django.core import checks


class CoreConfig(AppConfig):
    name = "podhub.core"
    label = "core"
    verbose_name = "PodHub core"

    def ready(self):
        from podhub.core.db import check_sqlite_version

        checks.register(check_sqlite_version)
