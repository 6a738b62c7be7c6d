"""The Etsy sandbox (sandboxes/etsy) over real HTTP on a free port, PodHub's ETSY_*
settings pointed at it (nothing here reaches openapi.etsy.com)."""

import httpx
import pytest
from django_scopes import scope

from integrations.etsy import services as etsy
from sandboxes.etsy.server import EtsySandboxServer
from sandboxes.etsy.shop import EtsySandbox


@pytest.fixture
def etsy_sandbox(settings):
    server = EtsySandboxServer(EtsySandbox()).start()
    settings.ETSY_API_KEY = "podhub-sandbox-keystring"
    settings.ETSY_SHARED_SECRET = "podhub-sandbox-secret"
    settings.ETSY_API_BASE = f"{server.url}/v3"
    settings.ETSY_CONNECT_URL = f"{server.url}/oauth/connect"
    settings.ETSY_DAILY_RESERVE = 5
    yield server
    server.stop()


def control(server, path: str, body: dict | None = None, method: str = "POST") -> dict:
    response = httpx.request(method, f"{server.url}/_sandbox/{path}", json=body)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def etsy_shop(etsy_sandbox, workspace):
    """A sandbox shop connected to `workspace` by the operator's path (a refresh token the
    sandbox granted), without the initial import."""
    made = control(etsy_sandbox, "shops", {"name": "AnaPrints"})
    with scope(workspace=workspace):
        conn = etsy.connect_with_refresh_token(workspace=workspace,
                                               refresh_token=made["refresh_token"],
                                               start_import=False)
    return conn
