"""The API fuzz pass (issue #13): schemathesis against /api/v1/schema/, in process.

Every operation of the published schema gets a bounded number of generated
requests — valid ones and deliberately invalid ones (wrong types, missing
fields, out-of-range numbers, odd strings) — each sent with the tokens of two
workspaces; path ids are drawn from both workspaces' real objects as well as
generated. The run must find no server error, only status codes the schema
documents for the operation, and the one JSON error body on every 4xx
(docs/security.md, "The fuzz pass").

Marked `fuzz`: `pytest -m fuzz` runs only this; `make test` runs it with the
rest. FUZZ_EXAMPLES (default 10) bounds the examples per operation and mode.
"""

import os
from decimal import Decimal

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django_scopes import scope
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from podhub.workspaces import services as workspace_services
from tests.factories import LineItemFactory, MembershipFactory, OrderFactory, StoreFactory

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
# explicit examples and generation; no shrinking: a failure is reported as found
FUZZ_PHASES = [Phase.explicit, Phase.generate]
HUGE_ID = 10**19 + 7  # larger than any id column holds
IDS: dict[str, list[int]] = {}  # URL keyword -> ids of both workspaces' objects

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]


@schemathesis.check
def error_body_is_json(ctx, response, case):
    """Every 4xx answer of the API is the one error body."""
    if 400 <= response.status_code < 500:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), \
            f"{response.status_code} is not JSON: {content_type!r}"
        body = response.json()
        assert isinstance(body, dict) and {"code", "message"} <= set(body.get("error", {})), \
            f"{response.status_code} body is not the error body: {str(body)[:200]}"
    return True


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    """Ids in paths: the generated value, or one of either workspace's real objects."""
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries({
        name: st.one_of(st.just(value), st.sampled_from(IDS[name])) if IDS.get(name)
        else st.just(value)
        for name, value in path_parameters.items()
    })


def _workspace(name: str) -> dict:
    owner = MembershipFactory(workspace__name=name)
    ws = owner.workspace
    store = StoreFactory(workspace=ws, platform="manual", name=f"{name} outside")
    orders = [OrderFactory(workspace=ws, store=store, state=state, lines=1)
              for state in ("in_quotation", "to_order", "shipped")]
    with scope(workspace=ws):
        from orders.models import CsvImport
        from quotes.models import Quote, SkuRule

        quote = Quote.objects.create(workspace=ws, store=store, product_key=f"{name}-1",
                                     title="Custom plaque", sample_order=orders[0])
        rule = SkuRule.objects.create(workspace=ws, kind="exact", pattern=f"{name}-SKU",
                                      variant=VARIANT["public"])
        job = CsvImport.objects.create(workspace=ws, store=store, sha256="0" * 64,
                                       filename="orders.csv")
        _, key = workspace_services.api_token_create(workspace=ws, user=owner.user)
    LineItemFactory(order=orders[1], catalog_variant_id=VARIANT["public"].pk,
                    unit_price_amount=Decimal("20.00"))
    return {"key": key, "order_id": [o.pk for o in orders], "quote_id": [quote.pk],
            "rule_id": [rule.pk], "import_id": [job.pk]}


VARIANT: dict = {}


@pytest.fixture
def api(db, stripe_sandbox):
    """Both workspaces' data and tokens, and the schema as the app serves it (top-ups
    reach the Stripe sandbox, so a valid one is answered 201, not 503)."""
    from quotes.models import Product, Variant

    product = Product.objects.create(name="Mug")
    VARIANT["public"] = Variant.objects.create(product=product, sku="FUZZ-MUG",
                                               price_amount="5.00")
    a, b = _workspace("fuzz-a"), _workspace("fuzz-b")
    IDS.clear()
    for name in ("order_id", "quote_id", "rule_id", "import_id"):
        IDS[name] = a[name] + b[name] + [HUGE_ID]
    # In process, in the test's transaction: as Django's test client does, keep the
    # request signals from closing the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", WSGIHandler())
        yield schema, (a["key"], b["key"])
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_api_answers_every_generated_request_as_documented(api):
    """Schemathesis' Python API rather than its pytest plugin: the plugin's lazy
    loader does not run under pytest 9.2 (it sets Function._nodeid)."""
    schema, tokens = api
    checks = [not_a_server_error, status_code_conformance, error_body_is_json]
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        takes_input = any((operation.path_parameters, operation.query, operation.body))
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if takes_input else [])
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck), phases=FUZZ_PHASES)
            def run(case):
                for key in tokens:
                    case.call_and_validate(headers={"Authorization": f"Token {key}"},
                                           checks=checks)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # collected: one report for all
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:1500])
    assert operations >= 20, operations
    assert not failures, "\n\n".join(failures)
