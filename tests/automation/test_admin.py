"""Staff see every workspace's rules and their firings in the admin; firings are a record
(read-only), rules can only be switched off there."""

import pytest
from django.test import Client

from tests.automation.conftest import line
from tests.quotes.conftest import staff  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def test_staff_list_rules_and_read_firings(staff, workspace, store, catalog,  # noqa: F811
                                           make_rule, import_order):
    rule = make_rule(name="Brazil", conditions=[{"field": "country", "op": "in",
                                                 "value": "BR"}],
                     actions=[{"type": "tag", "value": "br"}])
    import_order(workspace, store, line("MUG11-WHITE", 1), country="BR")
    client = Client()
    client.force_login(staff)
    assert "Brazil" in client.get("/admin/automation/rule/").content.decode()
    firings = client.get("/admin/automation/rulefiring/").content.decode()
    assert "Brazil" in firings
    assert client.get("/admin/automation/rulefiring/add/").status_code == 403
    page = client.get(f"/admin/automation/rule/{rule.pk}/change/")
    assert page.status_code == 200 and 'name="enabled"' in page.content.decode()
    assert 'name="conditions"' not in page.content.decode()  # staff do not rewrite rules
