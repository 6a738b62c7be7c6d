"""Each condition, checked and evaluated against an order's facts; what the form and the
API send is normalised (codes upper case, amounts as decimal strings)."""

from decimal import Decimal

import pytest

from automation import conditions
from automation.conditions import Facts, Line
from podhub.core.exceptions import ValidationFailed


class R:
    def __init__(self, conds, match="all"):
        self.conditions, self.match = conds, match


def facts(**kw):
    base = {
        "store_id": 7, "country": "BR", "region": "SP", "currency": "USD",
        "total": Decimal("250.00"), "buyer_email": "ana@Wholesale.example",
        "address": {"name": "Ana", "address1": "Rua 1", "city": "São Paulo",
                    "country_code": "BR"},
        "lines": [Line(sku="MUG-RED", quantity=2, product_id=3, personalised=True),
                  Line(sku="TEE-1", quantity=1)],
        "load_tags": lambda: {"vip"}, "load_notes": lambda: ["Gift wrap please"],
        "margin": lambda: Decimal("12.50"),
    }
    base.update(kw)
    return Facts(**base)


def check(field, op, value, workspace=None):
    return conditions.validate_one({"field": field, "op": op, "value": value},
                                   workspace=workspace, at="c")


@pytest.mark.parametrize(("field", "op", "value", "expected"), [
    ("country", "in", "br, pt", True),
    ("country", "not_in", ["BR"], False),
    ("region", "in", "SP", True),
    ("sku", "is", "mug-red", True),
    ("sku", "starts_with", "MUG-", True),
    ("sku", "starts_with", "DIGITAL-", False),
    ("tag", "has", "VIP", True),
    ("tag", "has_not", "vip", False),
    ("quantity", "gte", 3, True),
    ("quantity", "gt", "3", False),
    ("total", "gt", "200", True),
    ("total", "lte", "249.99", False),
    ("margin", "lt", "15", True),
    ("margin", "gt", "15", False),
    ("currency", "in", "usd", True),
    ("currency", "not_in", "USD, EUR", False),
    ("personalisation", "present", None, True),
    ("personalisation", "missing", None, False),
    ("email_domain", "in", "wholesale.example", True),
    ("email_domain", "not_in", "wholesale.example", False),
    ("note", "contains", "gift WRAP", True),
    ("note", "contains", "urgent", False),
    ("address", "complete", None, True),
    ("address", "incomplete", None, False),
])
def test_each_condition(field, op, value, expected):
    cond = check(field, op, value)
    assert conditions.holds(cond, facts()) is expected


def test_store_and_product_need_objects_of_the_workspace(db, workspace, other_workspace):
    from django_scopes import scope

    from tests.factories import ProductFactory, StoreFactory

    mine, theirs = StoreFactory(workspace=workspace), StoreFactory(workspace=other_workspace)
    product = ProductFactory()
    with scope(workspace=workspace):
        cond = check("store", "is", mine.pk, workspace)
        assert conditions.holds(cond, facts(store_id=mine.pk))
        assert not conditions.holds(check("store", "is_not", mine.pk, workspace),
                                    facts(store_id=mine.pk))
        with pytest.raises(ValidationFailed) as err:
            check("store", "is", theirs.pk, workspace)
        assert err.value.detail["fields"] == {"c.value": "No such store in this workspace."}
        cond = check("product", "is", product.pk, workspace)
    assert conditions.holds(cond, facts(lines=[Line(sku="X", quantity=1,
                                                    product_id=product.pk)]))
    assert not conditions.holds(cond, facts())


def test_an_order_that_cannot_be_costed_never_matches_a_margin():
    cond = check("margin", "lt", "100")
    assert not conditions.holds(cond, facts(margin=lambda: None))


def test_an_incomplete_address():
    cond = check("address", "incomplete", None)
    assert conditions.holds(cond, facts(address={"name": "Ana", "country_code": "BR"}))


def test_all_or_any():
    conds = [check("country", "in", "BR"), check("total", "gt", "1000")]
    assert conditions.matches(R(conds), facts()) is None
    assert conditions.matches(R(conds, "any"), facts()) == [conds[0]]
    assert conditions.matches(R([]), facts()) == []  # no condition: every order


@pytest.mark.parametrize(("cond", "field"), [
    ({"field": "country", "value": ""}, "c.value"),
    ({"field": "country", "value": ["B R"]}, "c.value"),
    ({"field": "quantity", "op": "gt", "value": True}, "c.value"),
    ({"field": "total", "op": "gt", "value": "Infinity"}, "c.value"),
    ({"field": "sku", "op": "is", "value": "x" * 201}, "c.value"),
    ({"field": "tag", "op": "is", "value": "x"}, "c.op"),
    ("country", "c"),
])
def test_bad_conditions_name_the_field(cond, field):
    with pytest.raises(ValidationFailed) as err:
        conditions.validate_one(cond, workspace=None, at="c")
    assert field in err.value.detail["fields"]
