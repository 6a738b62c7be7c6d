import re

import pytest
from django.core import mail
from django.core.cache import cache
from django_scopes import scope

from podhub.workspaces.models import Invitation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-unusual-pass 42"


def test_sign_up_with_emailed_code_log_in_and_invite_a_teammate(page, artifacts_dir):
    cache.clear()
    # sign up: e-mail + password, then the 6-digit code from the e-mail
    page.goto("/accounts/signup/")
    page.fill("input[name=email]", "maker@prints.test")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/confirm-email/")
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    page.fill("input[name=code]", code)
    page.click("button[type=submit]")

    # first visit: name the workspace
    page.wait_for_url("**/workspaces/new/")
    page.fill("input[name=name]", "Maker Prints")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/"))
    assert page.locator("h1").inner_text() == "Maker Prints"

    # log out and back in with the e-mail address
    page.click("text=Sign out")
    page.goto("/accounts/login/")
    page.fill("input[name=login]", "maker@prints.test")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/"))
    assert "Maker Prints" in page.content()

    # invite a teammate from Settings (htmx swaps the team panel)
    page.click("nav >> text=Settings")
    page.fill("[data-testid=invite-form] input[name=email]", "mate@prints.test")
    page.select_option("[data-testid=invite-form] select[name=role]", "member")
    page.click("[data-testid=invite-form] button[type=submit]")
    page.wait_for_selector("text=Invitation sent to mate@prints.test")
    assert "mate@prints.test" in page.locator("[data-testid=invitations]").inner_text()
    assert mail.outbox[-1].to == ["mate@prints.test"]
    page.screenshot(path=f"{artifacts_dir}/signup-invite.png", full_page=True)

    invitation = Invitation.objects.none()
    from podhub.workspaces.models import Workspace

    ws = Workspace.objects.get(name="Maker Prints")
    with scope(workspace=ws):
        invitation = Invitation.objects.get(email="mate@prints.test")
    assert invitation.is_open()
