from django import forms

from integrations.platforms.base import NAME_FIELD, ConnectField


def _field(spec: ConnectField) -> forms.Field:
    attrs = {"placeholder": spec.placeholder} if spec.placeholder else {}
    if spec.url:
        attrs["inputmode"] = "url"
    # a secret is never rendered back, not even after an error (render_value=False)
    widget = forms.PasswordInput(render_value=False, attrs=attrs) if spec.secret \
        else forms.TextInput(attrs=attrs)
    return forms.CharField(label=spec.label, help_text=spec.help, required=spec.required,
                           max_length=spec.max_length, widget=widget)


def connect_form_class(platform) -> type[forms.Form]:
    """The connect form of a store platform, built from its `connect_fields()`
    (docs/architecture.md, "Adding a store platform")."""
    specs = [] if platform.authorizes else [*platform.connect_fields(), NAME_FIELD]
    fields = {spec.name: _field(spec) for spec in specs}
    return type(f"Connect{platform.code.title()}Form", (forms.Form,), fields)


class InstallShopifyForm(forms.Form):
    shop_domain = forms.CharField(label="Shop address", max_length=255,
                                  widget=forms.TextInput(attrs={"placeholder":
                                                                "your-store.myshopify.com"}))


class ManualStoreForm(forms.Form):
    name = forms.CharField(label="Name", max_length=120)
