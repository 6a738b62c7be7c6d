import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.cache import cache

from podhub.accounts.models import User

# the messages leave through the e-mail outbox after commit (podhub/core/mail.py): real
# transactions, so each request commits and its e-mail is sent
pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-unusual-pass 42"


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()  # allauth keeps rate-limit counters in the (Redis) cache
    yield
    cache.clear()


def _code_from_mail() -> str:
    assert mail.outbox, "no e-mail was sent"
    match = re.search(r"\b(\d{6})\b", mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match.group(1)


def _signup(client, email="new@seller.test"):
    return client.post("/accounts/signup/", {"email": email, "password1": PASSWORD,
                                             "password2": PASSWORD})


def test_signup_requires_the_six_digit_code_emailed_to_the_address(client):
    response = _signup(client)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert mail.outbox[-1].to == ["new@seller.test"]
    code = _code_from_mail()
    # not yet verified: the dashboard is not reachable
    assert not EmailAddress.objects.get(email="new@seller.test").verified

    response = client.post("/accounts/confirm-email/", {"code": code})

    assert response.status_code == 302
    assert EmailAddress.objects.get(email="new@seller.test").verified
    # logged in, and without a workspace the dashboard asks for one
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/workspaces/new/"
    response = client.post("/workspaces/new/", {"name": "New Seller Co"})
    assert response.status_code == 302
    assert "New Seller Co" in client.get("/").content.decode()


def test_login_is_by_email_and_needs_no_username(client):
    assert User.USERNAME_FIELD == "email"
    _signup(client, "ana@seller.test")
    client.post("/accounts/confirm-email/", {"code": _code_from_mail()})
    client.logout()
    response = client.post("/accounts/login/", {"login": "ana@seller.test",
                                                "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/workspaces/new/").status_code == 200


def test_wrong_codes_are_limited_then_a_new_code_is_needed(client):
    _signup(client)
    good = _code_from_mail()
    wrong = "000000" if good != "000000" else "111111"
    for _ in range(3):
        response = client.post("/accounts/confirm-email/", {"code": wrong})
    # After the allowed attempts the pending verification is gone: even the
    # right code no longer works, and the address stays unverified.
    response = client.post("/accounts/confirm-email/", {"code": good}, follow=True)
    assert not EmailAddress.objects.get(email="new@seller.test").verified
    assert response.status_code in (200, 404)


def test_wrong_code_shows_a_clear_message_and_verifies_nothing(client):
    _signup(client)
    good = _code_from_mail()
    wrong = "000000" if good != "000000" else "111111"
    response = client.post("/accounts/confirm-email/", {"code": wrong})
    assert response.status_code == 200
    assert "Incorrect code" in response.content.decode()
    assert not EmailAddress.objects.get(email="new@seller.test").verified


def test_duplicate_signup_changes_nothing_and_sends_no_code(client, user):
    sent_before = len(mail.outbox)
    response = _signup(client, user.email)
    # Enumeration is prevented: the page looks the same, but no new account exists
    # and the existing owner is only told that someone tried to sign up.
    assert User.objects.filter(email=user.email).count() == 1
    assert not re.search(r"\b\d{6}\b", "".join(m.body for m in mail.outbox[sent_before:]))
    assert response.status_code in (200, 302)


def test_login_attempts_are_rate_limited(client, user):
    for _ in range(5):
        client.post("/accounts/login/", {"login": user.email, "password": "wrong"})
    response = client.post("/accounts/login/", {"login": user.email,
                                                "password": "correct horse battery"})
    # Even the right password is refused while the limit holds.
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session


def test_password_reset_by_email_link(client, user):
    response = client.post("/accounts/password/reset/", {"email": user.email})
    assert response.status_code == 302
    body = mail.outbox[-1].body
    link = re.search(r"http://[^\s]+/accounts/password/reset/key/[^\s]+", body).group(0)
    path = link.split("testserver", 1)[-1] if "testserver" in link else "/" + link.split("/", 3)[3]
    response = client.get(path, follow=True)
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else path
    response = client.post(form_url, {"password1": "brand new pass 77",
                                      "password2": "brand new pass 77"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("brand new pass 77")
