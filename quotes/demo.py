"""A small demo catalog (docs/pricing.md's example catalog), created once.

`python manage.py load_demo_catalog`; podhub's `load_demo` may call
`load_demo_catalog()` too. Idempotent: existing rows are left as they are.
"""

from decimal import Decimal

from django.db import transaction

from quotes import calc
from quotes.models import (
    ExchangeRate,
    Product,
    Provider,
    ProviderKind,
    ShippingMethod,
    ShippingRate,
    ShippingZone,
    Variant,
    VariantProvider,
)

D = Decimal


@transaction.atomic
def load_demo_catalog() -> dict:
    own, _ = Provider.objects.get_or_create(code="own-factory", defaults={
        "name": "PodHub factory", "kind": ProviderKind.OWN})
    na, _ = ShippingZone.objects.get_or_create(name="North America",
                                               defaults={"countries": "US CA"})
    eu, _ = ShippingZone.objects.get_or_create(
        name="Europe", defaults={"countries": "AT BE DE DK ES FI FR GB IE IT NL PL PT SE"})
    row = ShippingZone.objects.filter(is_rest_of_world=True).first() or \
        ShippingZone.objects.create(name="Rest of world", is_rest_of_world=True)
    standard, _ = ShippingMethod.objects.get_or_create(code="standard", defaults={
        "name": "Standard", "handling_amount": D("1.00"), "sort_order": 1})
    express, _ = ShippingMethod.objects.get_or_create(code="express", defaults={
        "name": "Express", "handling_amount": D("1.00"), "sort_order": 2})
    for method, zone, first, extra, days in (
        (standard, na, "5.00", "2.00", (3, 7)), (standard, eu, "7.00", "3.00", (5, 10)),
        (standard, row, "9.00", "4.00", (7, 14)), (express, na, "12.00", "3.00", (1, 3)),
        (express, eu, "15.00", "4.00", (2, 4)),
    ):
        ShippingRate.objects.get_or_create(method=method, zone=zone, defaults={
            "first_item_amount": D(first), "additional_item_amount": D(extra),
            "delivery_days_min": days[0], "delivery_days_max": days[1]})
    # The sandbox WooCommerce store sells in EUR; sellers are billed in USD.
    ExchangeRate.objects.get_or_create(from_currency="EUR", to_currency="USD",
                                       defaults={"rate": D("1.08")})
    products = [
        ("Mug 11 oz", "Drinkware", "0", [
            ("MUG11-WHITE", {"Colour": "White"}, "8.00", "10-49: 7.00 mini-bulk; 50+: 6.00 bulk",
             "3.10"),
            ("MUG11-BLACK", {"Colour": "Black"}, "9.00", "10-49: 8.00 mini-bulk; 50+: 7.00 bulk",
             "3.60"),
        ]),
        ("Classic T-shirt", "Apparel", "0", [
            (f"TEE-{size}-BLACK", {"Size": size, "Colour": "Black"}, "11.50",
             "10-49: 10.50 mini-bulk; 50+: 9.50 bulk", "5.20") for size in ("S", "M", "L", "XL")
        ]),
        ("Custom stamp", "Stationery", "30.00", [
            ("STAMP-40", {"Size": "40 mm"}, "12.00", "", "4.00"),
        ]),
    ]
    made = 0
    for name, category, setup, variants in products:
        product, _ = Product.objects.get_or_create(
            name=name, made_for_workspace=None,
            defaults={"category": category, "setup_fee_amount": D(setup)})
        for sku, options, price, tiers, cost in variants:
            variant, created = Variant.objects.get_or_create(sku=sku, defaults={
                "product": product, "options": options, "price_amount": D(price),
                "tiers": calc.tiers_to_json(calc.parse_tiers(tiers)),
                "production_days": 5 if sku.startswith("STAMP") else 3,
                "weight_grams": 350 if sku.startswith("MUG") else 180})
            made += created
            VariantProvider.objects.get_or_create(variant=variant, provider=own, defaults={
                "provider_sku": f"OWN-{sku}", "base_cost_amount": D(cost)})
    return {"variants_created": made}
