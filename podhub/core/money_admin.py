"""Money in the Django admin, by currency like everywhere else (docs/money.md).

`MoneyAdminMixin` with `money_fields = {"amount": "currency"}` (each amount field and
the attribute, dotted through relations, that holds its currency) shows those fields
through `format_money` in the change list and wherever the change page shows them
read-only. Editable fields stay plain decimals: staff type numbers, not "$12.00".
"""

from operator import attrgetter

from django.contrib import admin

from podhub.core.money import format_money


def _shown(name: str) -> str:
    return f"{name}_shown"


def _display(name: str, currency: str, *, ordering: str | None):
    amount_of, currency_of = attrgetter(name), attrgetter(currency)

    @admin.display(description=name.replace("_", " "), ordering=ordering)
    def show(obj):
        return format_money(amount_of(obj), currency_of(obj))

    show.__name__ = _shown(name)
    return show


class MoneyAdminMixin:
    money_fields: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        columns = {f.name for f in self.model._meta.concrete_fields}
        for name, currency in self.money_fields.items():  # sortable if it is a column
            setattr(self, _shown(name), _display(
                name, currency, ordering=name if name in columns else None))

    def get_list_display(self, request):
        return [_shown(n) if n in self.money_fields else n
                for n in super().get_list_display(request)]

    def get_readonly_fields(self, request, obj=None):
        return self.money_readonly(
            super().get_readonly_fields(request, obj),
            everything=obj is not None and not self.has_change_permission(request, obj))

    def money_readonly(self, readonly, *, everything: bool = False) -> list[str]:
        """`readonly` plus the shown form of each read-only money field (for admins
        that compute their read-only fields themselves)."""
        readonly = list(readonly)
        for name in self.money_fields:
            if name in readonly or everything:
                readonly += [n for n in (name, _shown(name)) if n not in readonly]
        return readonly

    def get_fieldsets(self, request, obj=None):
        readonly = set(self.get_readonly_fields(request, obj))
        seen = set()

        def shown(names):
            out = []
            for name in names:
                if isinstance(name, list | tuple):
                    out.append(tuple(shown(name)))
                    continue
                if name in self.money_fields and _shown(name) in readonly:
                    name = _shown(name)
                if name not in seen:
                    seen.add(name)
                    out.append(name)
            return out

        return [(title, {**opts, "fields": shown(opts["fields"])})
                for title, opts in super().get_fieldsets(request, obj)]
