"""Issue 18 item 7: axe-core (vendored from the npm registry: tests/vendor/axe-core/, version
in its README) runs in headless Chromium on every main page of the seller's dashboard and
on the sign-in page: no serious or critical violation (WCAG 2 A and AA rules)."""

from pathlib import Path

import pytest

from tests.podhub.test_responsive import PAGES, seller  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = (Path(__file__).resolve().parents[1] / "vendor/axe-core/axe.min.js").read_text()
RUN = """async () => {
  const result = await axe.run(document, {runOnly: {type: "tag",
    values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, preload: false});
  return result.violations.filter(v => ["serious", "critical"].includes(v.impact))
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""


def violations(page) -> list[dict]:
    # preload: false — axe would copy @import-ed style sheets (the admin's forms.css) into
    # <style> elements, which the CSP refuses; only its css-orientation-lock rule reads them.
    # evaluated through the DevTools protocol, not a <script>: the CSP forbids inline ones
    page.evaluate(AXE + ";0")
    return page.evaluate(RUN)


OTHER_PAGES = ["/catalog/", "/orders/new/", "/orders/import/", "/stores/connect/shopify/",
               "/stores/connect/woocommerce/", "/dev/mail/"]


def test_the_main_pages_have_no_serious_or_critical_violations(page, login, owner, seller):  # noqa: F811
    found = {}
    for url in ("/accounts/login/", "/accounts/signup/"):
        page.goto(url)
        found[url] = violations(page)
    login(owner)
    for url in [*(u for u in PAGES.values() if u), f"/orders/{seller.pk}/", *OTHER_PAGES]:
        page.goto(url)
        page.wait_for_load_state("networkidle")  # the order page's panels arrive by htmx
        found[url] = violations(page)
    problems = {url: v for url, v in found.items() if v}
    import json
    assert not problems, json.dumps(problems, indent=1)


def test_the_phone_menu_and_the_sections_are_reachable_by_keyboard(page, login, owner,
                                                                  seller):  # noqa: F811
    login(owner)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/orders/")
    page.locator("[data-menu-toggle]").focus()
    page.keyboard.press("Enter")  # a real button: Enter opens the menu
    assert page.locator("[data-menu-toggle]").get_attribute("aria-expanded") == "true"
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert {"Orders", "Balance", "Settings"} <= set(reached), reached
