from django.apps import AppConfig
from django.core import checks


class CoreConfig(AppConfig):
    name = "podhub.core"
    label = "core"
    verbose_name = "PodHub core"

    def ready(self):
        from django.urls import register_converter
        from django.urls.converters import get_converters

        from podhub.core.converters import IdConverter

        # Before any URLconf is read: `<id:order_id>` in every app's urls.py.
        if "id" not in get_converters():
            register_converter(IdConverter, "id")

        from podhub.core.db import check_sqlite_version

        checks.register(check_sqlite_version)
