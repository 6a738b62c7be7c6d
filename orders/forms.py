"""Dashboard forms for orders: they parse and validate input, services decide."""

from django import forms

from orders.models import OrderState
from orders.selectors import ALL_TAB, MAX_PAGE_SIZE, PAGE_SIZE

# The keys of Order.shipping_address the dashboard edits (Shopify's names);
# other keys already on an order are kept as they are.
ADDRESS_FIELDS: list[tuple[str, str, bool]] = [
    ("name", "Recipient", True),
    ("company", "Company", False),
    ("address1", "Address", True),
    ("address2", "Address line 2", False),
    ("city", "City", True),
    ("province", "State / province", False),
    ("zip", "Postal code", False),
    ("country_code", "Country code", True),
    ("phone", "Phone", False),
]


class OrderFilterForm(forms.Form):
    """The list's query string. Invalid values are dropped, never an error page."""

    state = forms.ChoiceField(
        required=False, choices=[(ALL_TAB, "All")] + list(OrderState.choices)
    )
    q = forms.CharField(required=False, max_length=100, strip=True)
    store = forms.IntegerField(required=False, min_value=1)
    date_from = forms.DateField(required=False)
    date_to = forms.DateField(required=False)
    after = forms.CharField(required=False, max_length=200)
    per_page = forms.IntegerField(required=False, min_value=10, max_value=MAX_PAGE_SIZE)

    def values(self) -> dict:
        self.is_valid()
        return self._normalised({name: self.cleaned_data.get(name) for name in self.fields})

    @classmethod
    def parse(cls, query) -> dict:
        """values() without making a form: each field's clean(), an invalid value as None.

        The list's hot path: a bound form deep-copies its fields and widgets first,
        which cost more than the cleaning. Field.clean() keeps no state, so the
        class's fields can clean for every request.
        """
        data = {}
        for name, field in cls.base_fields.items():
            try:
                data[name] = field.clean(query.get(name))
            except forms.ValidationError:
                data[name] = None
        return cls._normalised(data)

    @staticmethod
    def _normalised(data: dict) -> dict:
        data["state"] = data["state"] or ALL_TAB
        if data["per_page"] == PAGE_SIZE:
            data["per_page"] = None
        return data


class CancelForm(forms.Form):
    note = forms.CharField(required=False, max_length=500, strip=True,
                           widget=forms.TextInput(attrs={"placeholder": "Why (optional)"}))
    cancel_in_store = forms.BooleanField(
        required=False, label="Also cancel it in the store and refund the buyer")


def add_address_fields(form: forms.Form, *, required: bool) -> None:
    for key, label, must in ADDRESS_FIELDS:
        form.fields[f"address_{key}"] = forms.CharField(
            label=label, required=required and must, max_length=255, strip=True
        )


def address_from(cleaned: dict) -> dict:
    address = {key: cleaned.get(f"address_{key}", "") for key, _, _ in ADDRESS_FIELDS}
    if address.get("country_code"):
        address["country_code"] = address["country_code"].upper()
    return address


class OrderEditForm(forms.Form):
    buyer_name = forms.CharField(max_length=200, required=False, strip=True)
    buyer_email = forms.EmailField(max_length=254, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        add_address_fields(self, required=False)

    @classmethod
    def initial_for(cls, order) -> dict:
        initial = {"buyer_name": order.buyer_name, "buyer_email": order.buyer_email}
        address = order.shipping_address or {}
        for key, _, _ in ADDRESS_FIELDS:
            initial[f"address_{key}"] = address.get(key, "")
        return initial


class ManualOrderForm(forms.Form):
    """An order from an outside source (Etsy, Amazon, ...), typed in by the seller."""

    store = forms.TypedChoiceField(required=False, coerce=int, empty_value=None,
                                   label="Store / source")
    channel = forms.CharField(max_length=32, required=False, strip=True,
                              help_text="e.g. etsy, amazon")
    number = forms.CharField(max_length=64, strip=True, label="Order number")
    buyer_name = forms.CharField(max_length=200, strip=True)
    buyer_email = forms.EmailField(max_length=254, required=False)
    currency = forms.CharField(max_length=3, initial="USD", strip=True)

    def __init__(self, *args, stores=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].choices = [("", "— outside source (manual) —")] + [
            (s.pk, f"{s.name} ({s.get_platform_display()})") for s in stores
        ]
        add_address_fields(self, required=True)


class CsvImportForm(forms.Form):
    file = forms.FileField(label="CSV file")
    store = forms.TypedChoiceField(required=False, coerce=int, empty_value=None,
                                   label="Store / source")

    def __init__(self, *args, stores=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].choices = [("", "— outside source (manual) —")] + [
            (s.pk, f"{s.name} ({s.get_platform_display()})") for s in stores
        ]
