import json

import pytest
from django.core.management import call_command

from quotes.models import ExchangeRate, ShippingRate, Variant

pytestmark = pytest.mark.django_db


def test_the_demo_catalog_loads_once(capsys):
    call_command("load_demo_catalog", "--json")
    assert json.loads(capsys.readouterr().out) == {"variants_created": 7}
    call_command("load_demo_catalog", "--json")
    assert json.loads(capsys.readouterr().out) == {"variants_created": 0}
    assert Variant.objects.get(sku="MUG11-WHITE").tiers[0]["label"] == "mini-bulk"
    assert ShippingRate.objects.count() == 5
    # the sandbox WooCommerce store sells in EUR: the demo can price it
    assert ExchangeRate.objects.get(from_currency="EUR", to_currency="USD").rate > 0
