"""Which providers PodHub offers "Cancel at <provider>" for, and in which submission
statuses (docs/fulfillment.md, "Cancel at the provider"): each adapter states what its
provider documents; a status the submission never has would silently offer nothing."""

import pytest

from fulfillment.models import SubmissionStatus
from fulfillment.providers import registry

# what docs/fulfillment.md's table says, adapter by adapter
OFFERED_BEFORE_PRODUCTION = {"printful", "gelato", "customcat", "shineon", "sandbox"}
NEVER = {"printify", "own", "manual"}


def test_every_adapter_names_real_submission_statuses(db):
    for code, spec in registry.providers().items():
        assert spec.client.cancellable <= set(SubmissionStatus.values), code


@pytest.mark.parametrize("code", sorted(OFFERED_BEFORE_PRODUCTION | NEVER))
def test_a_cancel_is_offered_before_production_only_where_documented(code, db):
    client = registry.get(code).client
    assert client.can_cancel(SubmissionStatus.ACCEPTED) is (code in OFFERED_BEFORE_PRODUCTION)
    for later in (SubmissionStatus.IN_PRODUCTION, SubmissionStatus.SHIPPED,
                  SubmissionStatus.PENDING, SubmissionStatus.CANCELLED):
        assert client.can_cancel(later) is False
