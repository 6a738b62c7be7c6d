"""The admin's tabular inlines, every one named for a screen reader (issue 18).

A tabular inline shows its labels as column heads, which do not name the inputs under
them (axe-core's "label" rule; docs/architecture.md, "The apps"). `TabularInline` names each
input of every row — "Delete" and the empty row that "Add another" copies included — by
its label. Every tabular inline in PodHub derives from it
(tests/podhub/test_walk_findings.py checks the registry).
"""

from django.contrib import admin
from django.forms.models import BaseInlineFormSet


class NamedInputsFormSet(BaseInlineFormSet):
    def add_fields(self, form, index):
        super().add_fields(form, index)
        for field in form.fields.values():
            # a relation's select sits inside the admin's wrapper (its + and edit links)
            widget = getattr(field.widget, "widget", field.widget)
            widget.attrs.setdefault("aria-label", str(field.label))


class TabularInline(admin.TabularInline):
    formset = NamedInputsFormSet
