import factory
from allauth.account.models import EmailAddress

from podhub.accounts.models import User
from podhub.workspaces.models import Membership, Role, Workspace


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def verified(self, create, extracted, **kwargs):
        if create:
            self.save()
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.OWNER


# --- orders (appended by the orders services work) ---------------------------

from decimal import Decimal  # noqa: E402


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "orders.Store"

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Store {n}")
    platform = "shopify"
    currency = "USD"


class OrderFactory(factory.django.DjangoModelFactory):
    """An order as a store import leaves it (in_quotation, no lines).

    `OrderFactory(lines=2)` adds two line items (SKU-1..) and fills search_text.
    """

    class Meta:
        model = "orders.Order"
        skip_postgeneration_save = True

    workspace = factory.SubFactory(WorkspaceFactory)
    store = factory.SubFactory(StoreFactory, workspace=factory.SelfAttribute("..workspace"))
    external_id = factory.Sequence(lambda n: f"ext-{n}")
    number = factory.Sequence(lambda n: f"#{1000 + n}")
    buyer_name = "Ana Buyer"
    buyer_email = "ana@buyer.test"
    shipping_address = factory.LazyFunction(lambda: {
        "name": "Ana Buyer", "address1": "1 Main St", "address2": "", "city": "Springfield",
        "province": "IL", "zip": "62701", "country_code": "US", "phone": "",
    })
    currency = "USD"
    subtotal_amount = factory.LazyFunction(lambda: Decimal("25.00"))
    total_amount = factory.LazyFunction(lambda: Decimal("25.00"))
    state = "in_quotation"
    search_text = factory.LazyAttribute(
        lambda o: f"{o.number} {o.buyer_name} {o.buyer_email}".lower()
    )

    @factory.post_generation
    def lines(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        skus = []
        for i in range(int(extracted)):
            line = LineItemFactory(order=self, sku=f"SKU-{i + 1}", **kwargs)
            skus.append(line.sku)
        self.search_text = " ".join([self.search_text, *skus]).lower()
        self.save(update_fields=["search_text"])


class LineItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "orders.LineItem"

    order = factory.SubFactory(OrderFactory)
    workspace = factory.SelfAttribute("order.workspace")
    sku = factory.Sequence(lambda n: f"SKU-{n}")
    title = "Custom mug"
    quantity = 1
    unit_price_amount = factory.LazyFunction(lambda: Decimal("25.00"))


# --- catalog and quotes (appended by the quotes work) --------------------------------


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "quotes.Provider"
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"provider-{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())


class ProductFactory(factory.django.DjangoModelFactory):
    """A public, published catalog product (USD, no setup fee)."""

    class Meta:
        model = "quotes.Product"

    name = factory.Sequence(lambda n: f"Mug 11 oz #{n}")
    currency = "USD"


class VariantFactory(factory.django.DjangoModelFactory):
    """`VariantFactory(price="8.00", tiers="10-49: 7.00; 50+: 6.00")` reads tiers as text."""

    class Meta:
        model = "quotes.Variant"
        exclude = ("price",)

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"CAT-{n}")
    options = factory.LazyFunction(lambda: {"Colour": "White"})
    production_days = 3
    price = "8.00"
    price_amount = factory.LazyAttribute(lambda o: Decimal(o.price))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from quotes import calc

        tiers = kwargs.get("tiers")
        if isinstance(tiers, str):
            kwargs["tiers"] = calc.tiers_to_json(calc.parse_tiers(tiers))
        return super()._create(model_class, *args, **kwargs)


class ShippingZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "quotes.ShippingZone"

    name = factory.Sequence(lambda n: f"Zone {n}")
    countries = "US"


class ShippingMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "quotes.ShippingMethod"

    code = factory.Sequence(lambda n: f"method-{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())
    currency = "USD"
    handling_amount = factory.LazyFunction(lambda: Decimal("1.00"))


class ShippingRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "quotes.ShippingRate"

    method = factory.SubFactory(ShippingMethodFactory)
    zone = factory.SubFactory(ShippingZoneFactory)
    currency = "USD"
    first_item_amount = factory.LazyFunction(lambda: Decimal("5.00"))
    additional_item_amount = factory.LazyFunction(lambda: Decimal("2.00"))


class QuoteFactory(factory.django.DjangoModelFactory):
    """A requested quote for one store product; `QuoteFactory(lines=2)` adds variants."""

    class Meta:
        model = "quotes.Quote"
        skip_postgeneration_save = True

    workspace = factory.SubFactory(WorkspaceFactory)
    store = factory.SubFactory(StoreFactory, workspace=factory.SelfAttribute("..workspace"))
    product_key = factory.Sequence(lambda n: f"p:store-product-{n}")
    title = factory.Sequence(lambda n: f"Custom plaque {n}")

    @factory.post_generation
    def lines(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        for i in range(int(extracted)):
            QuoteLineFactory(quote=self, variant_key=f"v:{self.pk}-{i + 1}", **kwargs)


class QuoteLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "quotes.QuoteLine"

    quote = factory.SubFactory(QuoteFactory)
    workspace = factory.SelfAttribute("quote.workspace")
    variant_key = factory.Sequence(lambda n: f"v:{n}")
    variant_title = factory.Sequence(lambda n: f"Size {n}")
    currency = "USD"
