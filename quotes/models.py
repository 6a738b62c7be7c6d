"""Catalog, mapping, quotations and frozen prices.

Two kinds of rows live here:

* the **catalog**, kept by staff in Django admin and shared by every
  workspace: providers, shipping zones / methods / rates, base products and
  their variants (with the providers that make them), exchange rates;
* rows a **workspace owns** (`WorkspaceModel` + `ScopedManager`): SKU rules,
  explicit product links, quotes and their lines, accepted prices, setup-fee
  charges and the price frozen on an order at payment.

Money is a Decimal `*_amount` column next to a `currency` column
(podhub.core.money.amount_field). Quantity tiers are a small JSON list
validated by quotes/calc.py; see docs/pricing.md.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_scopes import ScopedManager

from podhub.core.models import WorkspaceModel
from podhub.core.money import amount_field, format_money

ZERO = 0


def _currency_field():
    return models.CharField(max_length=3, default="USD",
                            help_text="ISO 4217 code, e.g. USD, EUR.")


# --- the catalog (global, staff-kept) -------------------------------------------------


class ProviderKind(models.TextChoices):
    OWN = "own", "Own factory"
    API = "api", "Integrated provider (API)"
    MANUAL = "manual", "Manual provider (files + tracking by hand)"


class Provider(models.Model):
    """Who makes a variant. fulfillment/ (higher in the stack) adds routing and
    connections; the catalog only needs the list, the provider SKU and the cost."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=8, choices=ProviderKind.choices, default=ProviderKind.OWN)
    is_active = models.BooleanField(default=True)
    notes = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name


class ShippingZone(models.Model):
    """Destination countries priced alike. One zone may be "rest of world"."""

    name = models.CharField(max_length=80, unique=True)
    countries = models.TextField(
        blank=True, help_text="Two-letter ISO country codes separated by spaces or commas, "
        "e.g. 'US CA'. Each country belongs to one zone only.")
    is_rest_of_world = models.BooleanField(
        default=False, help_text="Used for every country no other zone lists.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_rest_of_world"],
                                    condition=Q(is_rest_of_world=True),
                                    name="zone_one_rest_of_world"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def country_list(self) -> list[str]:
        return [c for c in self.countries.replace(",", " ").upper().split() if c]


class ShippingMethod(models.Model):
    code = models.SlugField(max_length=40, unique=True, help_text="e.g. standard, express")
    name = models.CharField(max_length=80)
    currency = _currency_field()
    handling_amount = amount_field(
        validators=[MinValueValidator(0)],
        help_text="Handling fee charged once per order shipped with this method.")
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(handling_amount__gte=0),
                                   name="method_handling_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class ShippingRate(models.Model):
    """Method × zone: the first item costs `first_item`, each further item `additional_item`."""

    method = models.ForeignKey(ShippingMethod, on_delete=models.CASCADE, related_name="rates")
    zone = models.ForeignKey(ShippingZone, on_delete=models.CASCADE, related_name="rates")
    currency = _currency_field()
    first_item_amount = amount_field(validators=[MinValueValidator(0)])
    additional_item_amount = amount_field(validators=[MinValueValidator(0)])
    delivery_days_min = models.PositiveSmallIntegerField(default=3)
    delivery_days_max = models.PositiveSmallIntegerField(default=7)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["method", "zone"], name="rate_method_zone_uniq"),
            models.CheckConstraint(
                condition=Q(first_item_amount__gte=0) & Q(additional_item_amount__gte=0),
                name="rate_not_negative"),
            models.CheckConstraint(condition=Q(delivery_days_max__gte=models.F(
                "delivery_days_min")), name="rate_days_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.method} → {self.zone}"


class ArtworkSource(models.TextChoices):
    """How a product's print files come (docs/print-files.md, "Seller-supplied artwork")."""

    TEMPLATE = "template", "From a design template"
    SELLER = "seller", "From the seller"
    EITHER = "either", "Either: the template, or the seller's artwork"


class ProductShape(models.TextChoices):
    """The 3D model the design is wrapped on in the preview (docs/print-files.md, "3D")."""

    PLANE = "plane", "Flat (poster, canvas, T-shirt front)"
    CYLINDER = "cylinder", "Cylinder (mug, tumbler, bottle)"
    NONE = "none", "No 3D preview"


class Product(models.Model):
    """A base product. Public ones (no `made_for_workspace`) are the seller catalog;
    a product developed for one workspace from a quote is private to it."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    image_url = models.URLField(max_length=1000, blank=True)
    category = models.CharField(max_length=80, blank=True)
    currency = _currency_field()
    setup_fee_amount = amount_field(
        validators=[MinValueValidator(0)],
        help_text="One-time setup/development fee (stamps, moulds), charged once per "
        "workspace with its first paid order of this product.")
    is_published = models.BooleanField(
        default=True, help_text="Shown in the seller catalog and matched by exact SKU.")
    made_for_workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", help_text="Set for a custom product developed for one workspace "
        "(from a quote): only that workspace can use it.")
    artwork_source = models.CharField(
        max_length=8, choices=ArtworkSource.choices, default=ArtworkSource.EITHER,
        help_text="From a template: a quote is refused while the product has no active design "
        "template, and sellers cannot upload artwork. From the seller: templates are not "
        "used. Either: the template renders; the seller's artwork replaces it for a side.")
    print_width_in = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.1"))],
        help_text="Print area in inches, for checking seller artwork when the product has no "
        "design template (a template's own size wins).")
    print_height_in = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.1"))])
    shape = models.CharField(
        max_length=8, choices=ProductShape.choices, default=ProductShape.PLANE,
        help_text="The 3D preview's model: the design wrapped on a cylinder (mugs, "
        "tumblers) or shown on a flat plane (posters, canvas, T-shirt front).")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(setup_fee_amount__gte=0),
                                   name="product_setup_fee_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_public(self) -> bool:
        return self.made_for_workspace_id is None


class Variant(models.Model):
    """A sellable variant: options (size, colour), weight, production time, price."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    sku = models.CharField(max_length=128, unique=True,
                           help_text="The catalog SKU; a store line with exactly this SKU "
                           "maps here.")
    options = models.JSONField(default=dict, blank=True,
                               help_text='e.g. {"Size": "11 oz", "Colour": "White"}')
    weight_grams = models.PositiveIntegerField(default=0)
    production_days = models.PositiveSmallIntegerField(default=3,
                                                       validators=[MinValueValidator(1)])
    price_amount = amount_field(validators=[MinValueValidator(0)],
                                help_text="The seller's unit price (product currency).")
    # [{"min_quantity": 10, "max_quantity": 49, "unit_price": "8.00", "label": "mini-bulk"}]
    tiers = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["product_id", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(price_amount__gte=0),
                                   name="variant_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product.name} · {self.label}" if self.options else self.product.name

    @property
    def label(self) -> str:
        if not isinstance(self.options, dict) or not self.options:
            return self.sku
        return " / ".join(str(v) for v in self.options.values())


class VariantProvider(models.Model):
    """A provider that makes the variant: its own SKU and what it charges us."""

    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="providers")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="variants")
    provider_sku = models.CharField(max_length=128)
    currency = _currency_field()
    base_cost_amount = amount_field(validators=[MinValueValidator(0)])
    priority = models.PositiveSmallIntegerField(default=1, help_text="1 = first choice.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["variant_id", "priority", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "provider"],
                                    name="variant_provider_uniq"),
            models.CheckConstraint(condition=Q(base_cost_amount__gte=0),
                                   name="variant_provider_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} · {self.provider_sku}"


class ExchangeRate(models.Model):
    """Staff-kept: 1 `from_currency` = `rate` `to_currency` (the inverse is derived)."""

    from_currency = models.CharField(max_length=3)
    to_currency = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=20, decimal_places=8,
                               validators=[MinValueValidator(0)])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["from_currency", "to_currency"],
                                    name="exchange_rate_pair_uniq"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchange_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"1 {self.from_currency} = {self.rate} {self.to_currency}"


# --- mapping (per workspace) ------------------------------------------------------------


class RuleKind(models.TextChoices):
    EXACT = "exact", "Exact SKU"
    PREFIX = "prefix", "SKU prefix"


class SkuRule(WorkspaceModel):
    """The seller's rule: items whose SKU is (or starts with) `pattern` are `variant`."""

    store = models.ForeignKey("orders.Store", on_delete=models.CASCADE, null=True, blank=True,
                              related_name="+", help_text="Empty: every store.")
    kind = models.CharField(max_length=8, choices=RuleKind.choices)
    pattern = models.CharField(max_length=128)
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "store", "kind", "pattern"],
                                    name="skurule_store_uniq", condition=Q(store__isnull=False)),
            models.UniqueConstraint(fields=["workspace", "kind", "pattern"],
                                    name="skurule_any_store_uniq",
                                    condition=Q(store__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pattern} → {self.variant_id}"


class LinkSource(models.TextChoices):
    SELLER = "seller", "Linked by the seller"
    PUBLISHED = "published", "Published from the catalog"
    QUOTE = "quote", "Accepted quote"


class ProductLink(WorkspaceModel):
    """An explicit link: this store product variant is that catalog variant.

    Keys come from quotes.mapping.product_key / variant_key (the store's product
    and variant ids, else the title / SKU), so store, CSV and manual lines all fit.
    """

    store = models.ForeignKey("orders.Store", on_delete=models.CASCADE, related_name="+")
    product_key = models.CharField(max_length=255)
    variant_key = models.CharField(max_length=255)
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=12, choices=LinkSource.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "product_key", "variant_key"],
                                    name="productlink_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.product_key}/{self.variant_key} → {self.variant_id}"

    @property
    def store_side(self) -> str:
        """The store product variant in the seller's words: "product 123, variant 456"
        (store ids), else its title and SKU as the order lines gave them."""
        words = {"p": "product", "v": "variant", "s": "SKU", "t": ""}
        parts = []
        for key in (self.product_key, self.variant_key):
            kind, _, value = key.partition(":")
            parts.append(f"{words.get(kind, '')} {value}".strip())
        return ", ".join(parts)


# --- quotations (per workspace) ---------------------------------------------------------


class QuoteStatus(models.TextChoices):
    REQUESTED = "requested", "Waiting for PodHub"
    SENT = "sent", "Waiting for your answer"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    LINKED = "linked", "Linked to the catalog"


OPEN_QUOTE_STATUSES = (QuoteStatus.REQUESTED, QuoteStatus.SENT)


class Quote(WorkspaceModel):
    """One per unmapped store product (not per order): what staff price, what the
    seller accepts or declines. Its lines are the product's variants."""

    store = models.ForeignKey("orders.Store", on_delete=models.PROTECT, related_name="+")
    product_key = models.CharField(max_length=255)
    title = models.CharField(max_length=255)
    store_product_id = models.CharField(max_length=128, blank=True)
    images = models.JSONField(default=list, blank=True)
    personalization_sample = models.JSONField(default=list, blank=True)
    sample_order = models.ForeignKey("orders.Order", on_delete=models.SET_NULL, null=True,
                                     blank=True, related_name="+")
    status = models.CharField(max_length=12, choices=QuoteStatus.choices,
                              default=QuoteStatus.REQUESTED, db_index=True)
    requested_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                null=True, blank=True, related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+")
    decline_reason = models.TextField(blank=True)
    staff_notes = models.TextField(blank=True, help_text="Shown to the seller with the quote.")
    # The private product made for this quote's variants when staff pick none.
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+")
    # [{"at": iso, "what": "sent", "by": "staff@x"}]: the quote's own short history
    history = models.JSONField(default=list, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "product_key"], name="quote_product_uniq"),
        ]
        indexes = [models.Index(fields=["workspace", "status", "requested_at"],
                                name="quote_ws_status")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_QUOTE_STATUSES


class QuoteLine(WorkspaceModel):
    """One variant of the quoted product, priced by staff."""

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    variant_key = models.CharField(max_length=255)
    variant_title = models.CharField(max_length=255, blank=True)
    sku = models.CharField(max_length=128, blank=True)
    catalog_variant = models.ForeignKey(
        Variant, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="The catalog variant that makes it; empty: a private product is created "
        "for this workspace when the quote is sent.")
    currency = _currency_field()
    unit_price_amount = amount_field(validators=[MinValueValidator(0)])
    setup_fee_amount = amount_field(validators=[MinValueValidator(0)])
    production_days = models.PositiveSmallIntegerField(null=True, blank=True)
    tiers = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True)
    valid_until = models.DateField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        ordering = ["quote_id", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["quote", "variant_key"], name="quoteline_uniq"),
            models.CheckConstraint(
                condition=Q(unit_price_amount__gte=0) & Q(setup_fee_amount__gte=0),
                name="quoteline_not_negative"),
        ]

    def __str__(self) -> str:
        return self.variant_title or self.sku or self.variant_key


class AcceptedPrice(WorkspaceModel):
    """The workspace's own price for a catalog variant, from an accepted quote.
    It wins over the catalog's list price and prices every later order."""

    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="+")
    quote_line = models.ForeignKey(QuoteLine, on_delete=models.SET_NULL, null=True,
                                   blank=True, related_name="+")
    currency = _currency_field()
    unit_price_amount = amount_field()
    setup_fee_amount = amount_field()
    production_days = models.PositiveSmallIntegerField(default=3)
    tiers = models.JSONField(default=list, blank=True)
    accepted_at = models.DateTimeField(default=timezone.now)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+")

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "variant"],
                                    name="acceptedprice_uniq"),
            models.CheckConstraint(condition=Q(unit_price_amount__gt=0),
                                   name="acceptedprice_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id}: {format_money(self.unit_price_amount, self.currency)}"


class SetupFeeCharge(WorkspaceModel):
    """The one-time setup fee of a product, charged once per workspace."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="+")
    currency = _currency_field()
    amount = amount_field()

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "product"], name="setupfee_once"),
        ]

    def __str__(self) -> str:
        return f"setup fee {self.product_id} on order {self.order_id}"


class OrderPrice(WorkspaceModel):
    """The itemised price frozen when the order is paid; never recomputed."""

    order = models.OneToOneField("orders.Order", on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    total_amount = amount_field()
    shipping_method = models.CharField(max_length=40, blank=True)
    breakdown = models.JSONField(default=dict)
    taken_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager(workspace="workspace")

    def __str__(self) -> str:
        return f"order {self.order_id}: {format_money(self.total_amount, self.currency)}"


class Stamps(models.TextChoices):
    """A product with a stamps/mould setup fee, on the workspace's first order of it
    (docs/pricing.md, "Made-to-order checkout")."""

    UNLABELED = "unlabeled", "Unlabeled (no setup fee)"
    CUSTOM = "custom", "Develop custom stamps (setup fee once)"


class StampsChoice(WorkspaceModel):
    """The seller's choice for a product's stamps, remembered: "unlabeled" waives the
    setup fee on every order of the product, "custom" charges it once (SetupFeeCharge)."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    choice = models.CharField(max_length=10, choices=Stamps.choices)
    chosen_at = models.DateTimeField(default=timezone.now)
    chosen_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                  null=True, blank=True, related_name="+")

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "product"], name="stampschoice_once"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.choice}"


class CatalogOrder(WorkspaceModel):
    """An order the seller placed from the catalog (made to order): the specifications
    they confirmed, the billing address and who confirmed. The order itself is an
    ordinary outside-source order (channel "catalog") written by orders' services."""

    order = models.OneToOneField("orders.Order", on_delete=models.CASCADE, related_name="+")
    billing_address = models.JSONField(default=dict, blank=True)
    specifications = models.JSONField(default=dict)
    confirmed_at = models.DateTimeField(default=timezone.now)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, blank=True, related_name="+")

    objects = ScopedManager(workspace="workspace")

    def __str__(self) -> str:
        return f"catalog order {self.order_id}"
