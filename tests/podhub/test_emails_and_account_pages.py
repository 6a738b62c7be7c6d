"""Issue 18 item 5: account pages and e-mails in PodHub's look. Every e-mail has an HTML
part from templates/emails/message.html with the workspace's name and the link on
PODHUB_PUBLIC_URL; allauth's messages say "Hello," (not "Hello from 127.0.0.1:8300!") and
its pages say "Sign in" with secondary buttons for secondary actions; the development
outbox (/dev/mail/) shows every queued e-mail to this machine only."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from cryptography.fernet import Fernet
from django.conf import settings
from django.core import mail as django_mail
from django.core.cache import cache
from django_scopes import scope

from podhub.core import mail
from podhub.core.models import OutgoingEmail
from podhub.workspaces import services as workspace_services

LOCALE = Path(settings.BASE_DIR) / "locale/en/LC_MESSAGES"


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()  # allauth keeps rate-limit counters in the cache
    yield
    cache.clear()


# --- e-mails ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_invitation_has_a_text_and_an_html_part_with_the_link_on_the_public_url(owner):
    with scope(workspace=owner.workspace):
        _invitation, token = workspace_services.invitation_create(
            workspace=owner.workspace, invited_by=owner, email="teammate@seller.test",
            role="member")
    email = OutgoingEmail.objects.get(to=["teammate@seller.test"])
    link = f"{settings.PUBLIC_BASE_URL}/invitations/{token}/"
    assert email.body.endswith(f"Accept the invitation: {link}")
    assert f'href="{link}"' in email.html and ">Accept the invitation</a>" in email.html
    assert owner.workspace.name in email.html
    assert "invited you to join the workspace" in email.html


@pytest.mark.django_db
def test_the_html_part_escapes_what_sellers_typed_and_keeps_lists(workspace):
    email = mail.send(to=["a@seller.test"], workspace_id=workspace.pk,
                      subject="[PodHub] Note", body="<script>x</script> said:\n\n- one\n- two",
                      link="https://pod.example/orders/1/")
    assert "<script>" not in email.html and "&lt;script&gt;" in email.html
    assert "<li>one</li><li>two</li>" in email.html
    assert "<h1" in email.html and ">Note</h1>" in email.html  # the prefix is not the heading


def test_the_compiled_wording_matches_its_source():
    with open(LOCALE / "django.po", "rb") as po, open(LOCALE / "django.mo", "rb") as mo:
        source = {m.id: m.string for m in read_po(po) if m.id}
        compiled = {m.id: m.string for m in read_mo(mo) if m.id}
    assert source == compiled, "run: msgfmt -o locale/en/LC_MESSAGES/django.mo " \
                               "locale/en/LC_MESSAGES/django.po"
    assert source["Sign In"] == "Sign in"


@pytest.mark.django_db(transaction=True)
def test_the_sign_up_code_mail_speaks_as_podhub_not_as_the_host(client):
    client.post("/accounts/signup/", {"email": "new@seller.test",
                                      "password1": "a-long-unusual-pass 42",
                                      "password2": "a-long-unusual-pass 42"})
    sent = django_mail.outbox[-1]
    assert sent.subject.startswith("[PodHub] ")
    assert sent.body.startswith("Hello,") and "Hello from" not in sent.body
    assert "127.0.0.1" not in sent.body and "testserver" not in sent.body
    assert re.search(r"\b\d{6}\b", sent.body)
    (html, _mime), = sent.alternatives
    assert re.search(r"\b\d{6}\b", html)


# --- account pages -----------------------------------------------------------------------


@pytest.mark.django_db
def test_account_pages_use_podhubs_wording_and_buttons(client):
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in" in page and "Sign In" not in page
    client.post("/accounts/signup/", {"email": "new@seller.test",
                                      "password1": "a-long-unusual-pass 42",
                                      "password2": "a-long-unusual-pass 42"})
    page = client.get("/accounts/confirm-email/").content.decode()
    # "Cancel" is a secondary button beside the main "Confirm"
    cancel = re.search(r'<(button|a)[^>]*class="([^"]*)"[^>]*>\s*Cancel', page)
    assert cancel and "secondary" in cancel.group(2), page


# --- the development outbox -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_development_outbox_shows_queued_mail_to_this_machine(client, workspace):
    email = mail.send(to=["a@seller.test"], workspace_id=workspace.pk,
                      subject="[PodHub] Your code", body="Your code is 123456.")
    listing = client.get("/dev/mail/").content.decode()
    assert "[PodHub] Your code" in listing and "a@seller.test" in listing
    detail = client.get(f"/dev/mail/{email.pk}/").content.decode()
    assert "Your code is 123456." in detail
    html = client.get(f"/dev/mail/{email.pk}/html/")
    assert html.status_code == 200 and b"Your code is 123456." in html.content
    # another machine: as if the page did not exist
    assert client.get("/dev/mail/", REMOTE_ADDR="203.0.113.9").status_code == 404
    assert client.get(f"/dev/mail/{email.pk}/", REMOTE_ADDR="10.0.0.7").status_code == 404


@pytest.mark.django_db
def test_the_development_outbox_is_off_when_the_setting_is(client, settings):
    settings.PODHUB_DEV_MAILBOX = False
    assert client.get("/dev/mail/").status_code == 404


def test_production_turns_the_development_outbox_off():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "podhub.settings.production",
           "SECRET_KEY": "s" * 50, "ALLOWED_HOSTS": "pod.example.com",
           "PODHUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
           "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x",
           "PODHUB_DEV_MAILBOX": "true"}  # not even when asked for
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import "
         "settings; print(settings.PODHUB_DEV_MAILBOX)"],
        env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
