"""What the walks (tests/podhub/test_walks_browser.py) found, each kept fixed by a test that
needs no browser: the markup axe-core and the CSP refused. (The phone-only findings, wide
tables that scroll and a wide admin text field, need a browser: the walks keep those.)"""

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from podhub.accounts.models import User
from tests.factories import QuoteFactory

pytestmark = pytest.mark.django_db

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Elements(HTMLParser):
    """Every element with its parent's tag and attributes."""

    def __init__(self, html: str):
        super().__init__()
        self.stack: list[tuple[str, dict]] = [("#root", {})]
        self.found: list[tuple[str, dict, tuple[str, dict]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.found.append((tag, attrs, self.stack[-1]))
        if tag not in VOID:
            self.stack.append((tag, attrs))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def named(self, tag: str, **attrs) -> list[tuple[str, dict, tuple[str, dict]]]:
        return [e for e in self.found if e[0] == tag
                and all(e[1].get(k) == v for k, v in attrs.items())]


@pytest.fixture
def staff_client(db):
    c = Client()
    c.force_login(User.objects.create_superuser(email="staff@podhub.test", password="x"))
    return c


def test_the_messages_stay_a_list_inside_their_live_region(client_for, owner):
    """axe "listitem": role="status" on the <ul> took away its list role."""
    html = client_for(owner).post("/stores/manual/", {"name": "Etsy orders"},
                                  follow=True).content.decode()
    lists = Elements(html).named("ul", **{"class": "messages"})
    assert lists and "Store “Etsy orders” added for outside orders." in html
    for _, attrs, parent in lists:
        assert "role" not in attrs
        assert parent[1].get("role") == "status"


def test_the_quote_cards_personalisation_is_a_proper_definition_list(client_for, owner,
                                                                     workspace):
    """axe "definition-list": the <dl> held <div>s of <strong> text, not <dt>/<dd>."""
    QuoteFactory(workspace=workspace, title="Oak plaque", lines=1, status="requested",
                 personalization_sample=[{"key": "Name", "value": "Ana"}])
    html = client_for(owner).get("/quotes/").content.decode()
    elements = Elements(html)
    lists = elements.named("dl")
    assert lists
    children = [e for e in elements.found if e[2][0] == "dl"]
    assert {e[0] for e in children} == {"dt", "dd"}
    assert "Name" in html and "Ana" in html


def test_every_input_of_the_quote_price_table_is_named(staff_client, workspace):
    """axe "label": a tabular inline's column heads do not name its inputs."""
    quote = QuoteFactory(workspace=workspace, title="Oak plaque", lines=2)
    html = staff_client.get(f"/admin/quotes/quote/{quote.pk}/change/").content.decode()
    inputs = [attrs for tag, attrs, _ in Elements(html).found
              if tag in {"input", "select", "textarea"}
              and (attrs.get("name") or "").startswith("lines-")
              and attrs.get("type") != "hidden" and "__prefix__" not in attrs["name"]]
    assert len(inputs) >= 2 * 8  # price, currency, ... and "Delete" on each row
    unnamed = [a["name"] for a in inputs if not a.get("aria-label")]
    assert not unnamed
    names = {a["name"]: a["aria-label"] for a in inputs}
    assert "price" in names["lines-0-unit_price_amount"].lower()
    assert names["lines-0-DELETE"] == "Delete"


def test_every_tabular_inline_in_the_admin_names_its_inputs(staff_client):
    """The quote table's finding, for every tabular inline: each derives from
    podhub.core.admin_inline.TabularInline, and on every add page staff can open, each
    input of an inline row — the empty row "Add another" copies included — has a name."""
    from django.contrib import admin

    from podhub.core.admin_inline import NamedInputsFormSet

    tabular = {(model_admin, inline) for model_admin in admin.site._registry.values()
               for inline in model_admin.inlines if issubclass(inline, admin.TabularInline)}
    assert len(tabular) >= 10
    plain = [i.__name__ for _, i in tabular if not issubclass(i.formset, NamedInputsFormSet)]
    assert not plain

    checked = 0
    for model_admin in {m for m, _ in tabular}:
        meta = model_admin.model._meta
        response = staff_client.get(f"/admin/{meta.app_label}/{meta.model_name}/add/")
        if response.status_code != 200:  # added elsewhere (a store's orders, a service)
            continue
        inputs = [attrs for tag, attrs, _ in Elements(response.content.decode()).found
                  if tag in {"input", "select", "textarea"} and attrs.get("type") != "hidden"
                  and re.match(r"[\w-]+-(\d+|__prefix__)-\w+$", attrs.get("name") or "")]
        unnamed = [a["name"] for a in inputs if not a.get("aria-label")]
        assert not unnamed, (meta.label, unnamed)
        checked += len(inputs)
    assert checked >= 20  # variants, shipping rates, providers, assets, memberships …
