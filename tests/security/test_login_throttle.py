"""Issue 13, finding 14: failed sign-ins locked the real user out for 5 minutes, so an
attacker could lock anyone out by typing wrong passwords for their address.

Failures are now throttled per (account, client address) pair, with a generous limit
per address across accounts (settings ACCOUNT_RATE_LIMITS, podhub/accounts/adapter.py):
the attacker's address is throttled, the owner signs in from theirs.
"""

import secrets
import uuid

import pytest
import time_machine
from django.utils import timezone

from tests.conftest import PASSWORD
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_instant():
    """Every attempt at the same instant: the limits' windows (a minute, five minutes)
    never slide under a slow test run."""
    with time_machine.travel(timezone.now(), tick=False):
        yield


def network() -> str:
    """An address in a /64 of its own (allauth counts IPv6 clients per /64): counters in
    the shared cache never carry over between tests or workers."""
    return f"2001:db8:{secrets.randbits(16):x}:{secrets.randbits(16):x}::1"


@pytest.fixture
def victim(workspace):
    email = f"owner-{uuid.uuid4().hex[:8]}@acme.test"
    return MembershipFactory(workspace=workspace, user=UserFactory(email=email)).user


@pytest.fixture
def attacker():
    return network()


@pytest.fixture
def owner_home():
    return network()


def sign_in(client_class, email: str, password: str, address: str):
    client = client_class()
    resp = client.post("/accounts/login/", {"login": email, "password": password},
                       REMOTE_ADDR=address)
    return resp, "_auth_user_id" in client.session


def test_an_attacker_cannot_lock_the_owner_out_from_another_address(victim, client, attacker,
                                                                    owner_home):
    client_class = type(client)
    # when an attacker fails 10 times from their address
    for _ in range(10):
        _, signed_in = sign_in(client_class, victim.email, "wrong password", attacker)
        assert not signed_in
    # then the owner still signs in from theirs
    resp, signed_in = sign_in(client_class, victim.email, PASSWORD, owner_home)
    assert resp.status_code == 302 and signed_in
    # and the attacker's address is throttled for this account, even with the password
    resp, signed_in = sign_in(client_class, victim.email, PASSWORD, attacker)
    assert not signed_in
    assert resp.status_code in (200, 429)
    assert "Too many failed login attempts" in resp.content.decode() \
        or resp.status_code == 429


def test_one_address_guessing_many_accounts_is_throttled(workspace, client, attacker,
                                                         owner_home):
    client_class = type(client)
    accounts = [MembershipFactory(workspace=workspace,
                                  user=UserFactory(email=f"m{i}-{uuid.uuid4().hex[:6]}@a.test"))
                .user for i in range(8)]
    # four wrong guesses per account stay under the pair limit, not under the address's
    refused = 0
    for user in accounts:
        for _ in range(4):
            resp, _ = sign_in(client_class, user.email, "wrong password", attacker)
            refused += resp.status_code == 429 or "Too many failed" in resp.content.decode()
    assert refused > 0
    # while another address signs in to any of those accounts
    _, signed_in = sign_in(client_class, accounts[0].email, PASSWORD, owner_home)
    assert signed_in


def test_the_pair_limit_lets_a_typo_prone_owner_retry(victim, client, owner_home):
    client_class = type(client)
    for _ in range(4):
        sign_in(client_class, victim.email, "wrong password", owner_home)
    _, signed_in = sign_in(client_class, victim.email, PASSWORD, owner_home)
    assert signed_in
