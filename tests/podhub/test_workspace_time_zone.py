"""The workspace's time zone (Settings → Workspace): the dashboard's clock and where Home's
"today" starts; the API keeps UTC (podhub/workspaces/middleware.py)."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django_scopes import scope

from podhub.workspaces.models import Role
from tests.factories import MembershipFactory, OrderFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

# 02:00 UTC on 3 December is 21:00 on 2 December in New York
NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


def _flow(client) -> dict[str, str]:
    html = client.get("/").content.decode()
    return dict(re.findall(r'data-label="(\w+)" data-value="(\d+)"', html))


@time_machine.travel(NOW, tick=False)
def test_home_today_starts_at_midnight_on_the_workspace_clock(workspace, owner, client_for):
    with scope(workspace=workspace):
        store = StoreFactory(workspace=workspace)
        evening = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)  # 18:00 on the 2nd in New York
        OrderFactory(workspace=workspace, store=store, state="awaiting_submission",
                     created_at=evening, paid_at=evening)
        OrderFactory(workspace=workspace, store=store, state="awaiting_submission",
                     created_at=NOW, paid_at=NOW)
    client = client_for(owner)
    assert _flow(client)["Paid"] == "1"  # UTC: the 3rd began two hours ago
    resp = client.post("/settings/workspace/", {"name": workspace.name,
                                                "time_zone": "America/New_York"})
    assert resp.status_code == 302
    workspace.refresh_from_db()
    assert workspace.time_zone == "America/New_York"
    assert _flow(client)["Paid"] == "2"  # New York: both on the 2nd
    page = client.get("/settings/").content.decode()
    assert '<option value="America/New_York" selected>' in page


@time_machine.travel(NOW, tick=False)
def test_the_api_keeps_utc_whatever_the_workspace_clock(workspace, owner, api_client_for):
    workspace.time_zone = "Asia/Tokyo"
    workspace.save()
    with scope(workspace=workspace):
        OrderFactory(workspace=workspace, store=StoreFactory(workspace=workspace),
                     placed_at=NOW)
    api = api_client_for(owner)
    [order] = api.get("/api/v1/orders/").json()["results"]
    assert order["placed_at"].startswith("2026-12-03T02:00:00")
    assert order["placed_at"].endswith(("Z", "+00:00"))
    assert api.get("/api/v1/workspace/").json()["time_zone"] == "Asia/Tokyo"


def test_only_owners_and_admins_change_it_and_a_bad_zone_is_refused(workspace, owner,
                                                                    client_for):
    member = MembershipFactory(workspace=workspace, user=UserFactory(), role=Role.MEMBER)
    refused = client_for(member).post("/settings/workspace/", {
        "name": "Renamed", "time_zone": "Europe/Berlin"})
    assert refused.status_code == 302
    workspace.refresh_from_db()
    assert (workspace.name, workspace.time_zone) != ("Renamed", "Europe/Berlin")
    bad = client_for(owner).post("/settings/workspace/", {"name": workspace.name,
                                                          "time_zone": "Mars/Olympus"})
    assert bad.status_code == 400
    assert "Mars/Olympus" in bad.content.decode()
    workspace.refresh_from_db()
    assert workspace.time_zone == "UTC"
