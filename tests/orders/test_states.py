"""The state table itself, checked against docs/orders.md's lifecycle written out here."""

import itertools

import pytest

from orders import states
from orders.models import OrderState as S

# docs/orders.md: where each state may go (on_hold also returns to the state it came from).
PRODUCT_TABLE = {
    (S.IN_QUOTATION, S.TO_ORDER), (S.IN_QUOTATION, S.ON_HOLD), (S.IN_QUOTATION, S.CANCELLED),
    (S.TO_ORDER, S.AWAITING_SUBMISSION), (S.TO_ORDER, S.ON_HOLD), (S.TO_ORDER, S.CANCELLED),
    (S.AWAITING_SUBMISSION, S.IN_PRODUCTION), (S.AWAITING_SUBMISSION, S.ON_HOLD),
    (S.AWAITING_SUBMISSION, S.CANCELLED),
    (S.IN_PRODUCTION, S.SHIPPED), (S.IN_PRODUCTION, S.ON_HOLD),
    (S.IN_PRODUCTION, S.CANCELLED),  # staff only (copyright found late, provider rejected)
    (S.SHIPPED, S.COMPLETED),
    (S.ON_HOLD, S.CANCELLED),
}


@pytest.mark.parametrize(("current", "to"), list(itertools.product(S.values, S.values)))
def test_allowed_matches_the_product_table(current, to):
    assert states.allowed(current, to) == ((current, to) in PRODUCT_TABLE)


@pytest.mark.parametrize("held_from", [S.IN_QUOTATION, S.TO_ORDER, S.AWAITING_SUBMISSION,
                                       S.IN_PRODUCTION])
def test_a_hold_returns_only_to_where_it_came_from(held_from):
    assert states.allowed(S.ON_HOLD, held_from, return_state=held_from)
    others = set(states.RANK) - {held_from}
    assert not any(states.allowed(S.ON_HOLD, o, return_state=held_from) for o in others)


def test_final_states_go_nowhere():
    assert not any(states.allowed(final, to) for final in states.FINAL for to in S.values)


@pytest.mark.parametrize(("current", "to", "stale"), [
    (S.SHIPPED, S.SHIPPED, True),           # duplicated event
    (S.COMPLETED, S.SHIPPED, True),         # late event
    (S.SHIPPED, S.IN_PRODUCTION, True),     # backwards
    (S.IN_PRODUCTION, S.SHIPPED, False),    # real progress
    (S.CANCELLED, S.SHIPPED, True),         # nothing moves a cancelled order
])
def test_stale_events_are_recognised(current, to, stale):
    assert states.is_stale(current, to) is stale


def test_staleness_of_a_held_order_is_judged_from_where_it_was_held():
    assert states.is_stale(S.ON_HOLD, S.IN_PRODUCTION, return_state=S.IN_PRODUCTION)
    assert not states.is_stale(S.ON_HOLD, S.SHIPPED, return_state=S.IN_PRODUCTION)
