import contextlib

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

        from django.contrib import admin

        # No "Delete selected" beside the business actions: orders, quotes, ledger rows and
        # claims change through services, never by a bulk delete (issue 18, staff console).
        with contextlib.suppress(KeyError):  # ready() runs again under isolate_apps
            admin.site.disable_action("delete_selected")
        admin.site.site_header = admin.site.site_title = "PodHub staff"
        # the queues and forms get the laptop's whole width (the index lists the apps)
        admin.site.enable_nav_sidebar = False
        admin.site.index_title = "Staff console"

        from podhub.core.db import check_sqlite_version

        checks.register(check_sqlite_version)
