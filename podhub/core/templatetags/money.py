"""Money in templates, a template builtin (settings TEMPLATES) like `safe_url`:

- `{{ order.total_amount|money:order.currency }}` -> "$12.00", "¥1,500", "KWD 1.500";
- `{{ entry.balance_delta|money_signed:entry.currency }}` -> "+$5.00" / "-$5.00"
  (ledger movements);
- `{{ profile.recharge_amount|money_plain:account.currency }}` -> "25.00": input
  fields keep a plain decimal in the currency's minor units.

All three call podhub/core/money.py, where rounding happens (docs/money.md). Never
`floatformat` on money: it knows two decimals, not currencies.
"""

from django import template

from podhub.core.money import format_money, plain

register = template.Library()


@register.filter
def money(amount, currency: str = "") -> str:
    return format_money(amount, currency)


@register.filter
def money_signed(amount, currency: str = "") -> str:
    return format_money(amount, currency, sign=True)


@register.filter
def money_plain(amount, currency: str = "") -> str:
    return plain(amount, currency)
