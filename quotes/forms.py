"""Forms: staff (admin) tiers and zones, seller SKU rules, decline and link."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from podhub.core.exceptions import ValidationFailed
from quotes import calc
from quotes.models import ExchangeRate, QuoteLine, RuleKind, ShippingZone, Variant

TIERS_HELP = ("Quantity tiers, e.g. '10-49: 8.00 mini-bulk; 50+: 6.50 bulk'. The tier "
              "quantity counts every item of the product in the order.")


class TiersFormMixin:
    """A text field for the JSON `tiers`, validated against the unit price field."""

    price_field = "price_amount"

    def _init_tiers(self):
        if self.instance and self.instance.pk and self.instance.tiers:
            self.initial["tiers_text"] = calc.tiers_to_text(
                calc.tiers_from_json(self.instance.tiers))

    def _clean_tiers(self, cleaned):
        text = cleaned.get("tiers_text", "")
        try:
            tiers = calc.parse_tiers(text)
            base = cleaned.get(self.price_field)
            if tiers and base is not None:
                calc.validate_tiers(tiers, base_price=Decimal(base))
        except ValidationFailed as exc:
            self.add_error("tiers_text", exc.message)
            return cleaned
        self.instance.tiers = calc.tiers_to_json(tiers)
        return cleaned


def tiers_field():
    return forms.CharField(label="Tiers", required=False, help_text=TIERS_HELP,
                           widget=forms.TextInput(attrs={"size": 34}))


class VariantAdminForm(TiersFormMixin, forms.ModelForm):
    tiers_text = tiers_field()

    class Meta:
        model = Variant
        fields = ["product", "sku", "options", "weight_grams", "production_days",
                  "price_amount", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_tiers()

    def clean(self):
        cleaned = super().clean()
        product = cleaned.get("product") or getattr(self.instance, "product", None)
        price = cleaned.get("price_amount")
        if price is not None and price <= 0 and product is not None and \
                product.is_published and cleaned.get("is_active", True):
            self.add_error("price_amount", "A published variant needs a unit price above 0.")
        options = cleaned.get("options")
        if options is not None and not isinstance(options, dict):
            self.add_error("options", 'Enter options as an object, e.g. {"Size": "M"}.')
        return self._clean_tiers(cleaned)


class QuoteLineAdminForm(TiersFormMixin, forms.ModelForm):
    price_field = "unit_price_amount"
    tiers_text = tiers_field()

    class Meta:
        model = QuoteLine
        fields = ["catalog_variant", "currency", "unit_price_amount", "setup_fee_amount",
                  "production_days", "valid_until", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2, "cols": 14})}

    # the quote's price table fits a laptop screen (1,366 px) with all its columns
    NARROW = {"currency": "3.5em", "unit_price_amount": "6em", "setup_fee_amount": "6em",
              "production_days": "3.5em", "tiers_text": "11em", "catalog_variant": "5em"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_tiers()
        for name, width in self.NARROW.items():
            if name in self.fields:
                self.fields[name].widget.attrs["style"] = f"width:{width}"

    def clean(self):
        cleaned = super().clean()
        currency = (cleaned.get("currency") or "").upper()
        if currency and (len(currency) != 3 or not currency.isalpha()):
            self.add_error("currency", "Enter a three-letter code such as USD.")
        cleaned["currency"] = currency
        return self._clean_tiers(cleaned)


class ShippingZoneAdminForm(forms.ModelForm):
    class Meta:
        model = ShippingZone
        fields = ["name", "countries", "is_rest_of_world"]

    def clean_countries(self):
        codes = [c for c in self.cleaned_data["countries"].replace(",", " ").upper().split() if c]
        bad = [c for c in codes if len(c) != 2 or not c.isalpha()]
        if bad:
            raise ValidationError(f"Not two-letter ISO country codes: {', '.join(bad)}.")
        taken = []
        for zone in ShippingZone.objects.exclude(pk=self.instance.pk or 0):
            taken += [f"{c} ({zone.name})" for c in codes if c in zone.country_list]
        if taken:
            raise ValidationError("Already in another zone: " + ", ".join(taken) + ".")
        return " ".join(dict.fromkeys(codes))


class ExchangeRateAdminForm(forms.ModelForm):
    class Meta:
        model = ExchangeRate
        fields = ["from_currency", "to_currency", "rate"]

    def _code(self, name):
        code = (self.cleaned_data.get(name) or "").strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValidationError("Enter a three-letter code such as USD.")
        return code

    def clean_from_currency(self):
        return self._code("from_currency")

    def clean_to_currency(self):
        return self._code("to_currency")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("from_currency") and cleaned.get("from_currency") == cleaned.get(
                "to_currency"):
            raise ValidationError("A rate converts between two different currencies.")
        rate = cleaned.get("rate")
        if rate is not None and rate <= 0:
            self.add_error("rate", "The rate must be above 0.")
        return cleaned


# --- seller -----------------------------------------------------------------------------


def _variant_field(choices, label="Catalog product"):
    return forms.TypedChoiceField(label=label, coerce=int,
                                  choices=[("", "— choose —"), *choices])


class SkuRuleForm(forms.Form):
    kind = forms.ChoiceField(choices=RuleKind.choices, label="Match")
    pattern = forms.CharField(max_length=128, label="SKU or prefix")
    store = forms.TypedChoiceField(coerce=int, required=False, empty_value=None,
                                   label="Store")
    variant = forms.TypedChoiceField(coerce=int, label="Catalog product")

    def __init__(self, *args, variants=(), stores=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["variant"].choices = [("", "— choose —"), *variants]
        self.fields["store"].choices = [("", "Every store"),
                                        *((s.pk, s.name) for s in stores)]


class DeclineForm(forms.Form):
    reason = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 2}),
                             label="Why do you decline?")
    cancel_orders = forms.BooleanField(required=False,
                                       label="Also cancel the orders waiting for this product")


# --- made-to-order checkout (quotes/checkout.py) ----------------------------------------------

CHECKOUT_ROWS = 5


class CatalogOrderForm(forms.Form):
    """"New order from the catalog": up to five items, where to ship, who is billed.
    Prices, the stamps choice and confirmation are read by the view (they follow the
    items)."""

    billing_same = forms.BooleanField(required=False, initial=True,
                                      label="Billing address is the shipping address")

    def __init__(self, *args, variants=(), **kwargs):
        from orders.forms import ADDRESS_FIELDS, add_address_fields

        super().__init__(*args, **kwargs)
        choices = [("", "—")] + [(name, [(str(pk), label) for pk, label in group])
                                 for name, group in variants]
        for n in range(CHECKOUT_ROWS):
            self.fields[f"line_{n}_variant"] = forms.TypedChoiceField(
                choices=choices, required=False, coerce=int, empty_value=None,
                label=f"Item {n + 1}")
            self.fields[f"line_{n}_quantity"] = forms.IntegerField(
                required=False, min_value=1, max_value=10_000, label=f"Item {n + 1} quantity")
            self.fields[f"line_{n}_personalization"] = forms.CharField(
                required=False, max_length=500, strip=True,
                label=f"Item {n + 1}: text to print (optional)")
            for kind in ("variant", "quantity", "personalization"):  # a table cell: no label
                field = self.fields[f"line_{n}_{kind}"]
                field.widget.attrs["aria-label"] = str(field.label)
        add_address_fields(self, required=True)
        for key, label, _ in ADDRESS_FIELDS:
            self.fields[f"billing_{key}"] = forms.CharField(
                label=f"Billing {label.lower()}", required=False, max_length=255, strip=True)

    def rows(self) -> list[tuple]:
        return [(self[f"line_{n}_variant"], self[f"line_{n}_quantity"],
                 self[f"line_{n}_personalization"]) for n in range(CHECKOUT_ROWS)]

    def address_fields(self, prefix: str) -> list:
        return [self[name] for name in self.fields if name.startswith(prefix)]

    def lines(self):
        from quotes.checkout import CheckoutLine

        c = getattr(self, "cleaned_data", {})  # an empty POST leaves the form unbound
        return [CheckoutLine(variant_id=c[f"line_{n}_variant"],
                             quantity=c.get(f"line_{n}_quantity") or 1,
                             personalization=c.get(f"line_{n}_personalization", ""))
                for n in range(CHECKOUT_ROWS) if c.get(f"line_{n}_variant")]

    def addresses(self) -> tuple[dict, dict | None]:
        from orders.forms import ADDRESS_FIELDS, address_from

        c = self.cleaned_data
        shipping = address_from(c)
        if c.get("billing_same"):
            return shipping, None
        billing = {key: c.get(f"billing_{key}", "") for key, _, _ in ADDRESS_FIELDS}
        return shipping, billing
