"""Security headers and the Content-Security-Policy (issue #13, "Security headers").

Every response carries a CSP without inline script or eval, frame-ancestors
'none' (and X-Frame-Options DENY), nosniff, Referrer-Policy, Permissions-Policy
and Cross-Origin-Opener-Policy. No template holds inline script or an inline
<style> element, and Chromium reports no CSP violation on the main pages, the
Django admin and the API docs — with htmx still loading the order page's panels
and swapping the list (docs/security.md, "Headers and CSP").
"""

import re
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import PASSWORD
from tests.factories import OrderFactory, StoreFactory, UserFactory

ROOT = Path(settings.BASE_DIR)
TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_ATTRIBUTE = re.compile(r"""<[^>]*\s(on[a-z]+|hx-on[:\w-]*)\s*=""", re.I)
STYLE_ELEMENT = re.compile(r"<style\b", re.I)


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def test_no_template_has_inline_script_event_handlers_or_style_elements():
    problems = []
    for folder in TEMPLATE_DIRS:
        for path in folder.rglob("*.html"):
            text = path.read_text()
            for name, pattern in (("inline <script>", INLINE_SCRIPT),
                                  ("on*= attribute", EVENT_ATTRIBUTE),
                                  ("<style> element", STYLE_ELEMENT)):
                if pattern.search(text):
                    problems.append(f"{path.relative_to(ROOT)}: {name}")
            if "javascript:" in text:
                problems.append(f"{path.relative_to(ROOT)}: javascript: URL")
    assert not problems, problems


@pytest.mark.parametrize("path", ["/accounts/login/", "/", "/api/v1/orders/", "/healthz"])
def test_every_response_carries_the_security_headers(client, db, path):
    response = client.get(path)
    csp = _directives(response["Content-Security-Policy"])
    for directive in ("default-src", "script-src"):
        assert csp[directive] == ["'self'"], csp
    assert "'unsafe-inline'" not in csp["style-src"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


@pytest.fixture
def csp_watch(page):
    """Every CSP violation Chromium reports on the page: console errors and the
    `securitypolicyviolation` events, recorded from before any page script runs."""
    seen: list[str] = []
    page.add_init_script("""
        window.__csp = [];
        document.addEventListener("securitypolicyviolation", function (e) {
            window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " +
                              (e.sourceFile || "") + ":" + e.lineNumber);
        });
    """)
    page.on("console", lambda msg: seen.append(msg.text)
            if "Content Security Policy" in msg.text or "Refused to" in msg.text else None)

    def check(path: str) -> list[str]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        found = list(seen) + page.evaluate("window.__csp || []")
        seen.clear()
        return [f"{path}: {v}" for v in found]

    return check


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_main_pages_run_without_a_csp_violation(page, csp_watch, login, owner, workspace):
    store = StoreFactory(workspace=workspace, name="Shop")
    order = OrderFactory(workspace=workspace, store=store, lines=1, state="to_order")
    violations = csp_watch("/accounts/login/")
    login(owner)
    for path in ("/", "/orders/", f"/orders/{order.pk}/", "/balance/", "/pay/",
                 "/stores/", "/insights/", "/catalog/", "/quotes/", "/settings/",
                 "/orders/new/", "/orders/import/", f"/orders/{order.pk}/fulfillment/"
                 "packing-sheet/", "/api/v1/docs/"):
        violations += csp_watch(path)
    # the API docs render (their script is a separate request), htmx works without eval:
    # the order page's panels load, "select all" counts through static/js/
    page.goto("/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info")
    page.goto(f"/orders/{order.pk}/")
    page.wait_for_selector("[data-testid=fulfillment] h2")
    page.goto("/orders/")
    page.click("[data-testid=select-all], input[data-select-all]")
    assert page.locator("[data-testid=selected-count]").inner_text() == "1 selected"
    violations += page.evaluate("window.__csp || []")
    assert not violations, violations


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_django_admin_runs_without_a_csp_violation(page, csp_watch, workspace):
    staff = UserFactory(email="staff@podhub.test", is_staff=True, is_superuser=True)
    order = OrderFactory(workspace=workspace, lines=1)
    violations = csp_watch("/admin/login/")
    page.fill("input[name=username]", staff.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    for path in ("/admin/", "/admin/orders/order/", f"/admin/orders/order/{order.pk}/change/",
                 "/admin/quotes/product/add/", "/admin/fulfillment/designtemplate/add/"):
        violations += csp_watch(path)
    assert not violations, violations
