"""The staff console and the status page in a real browser, as an operator uses them."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CANARY_VERSION, STABLE_VERSION, Site, Tab

pytestmark = [pytest.mark.live, pytest.mark.browser]


def test_it_sends_anonymous_visitors_to_the_login_page(tab: Tab) -> None:
    tab.go("/ops/slo")
    expect(tab.page).to_have_url(re.compile(r"/admin/login/\?next=/ops/slo"))


def test_it_refuses_a_customer_account(tab: Tab) -> None:
    tab.login("customer")
    expect(tab.page.locator(".errornote")).to_contain_text("staff account")
    tab.go("/ops/")
    expect(tab.page).to_have_url(re.compile(r"/admin/login/"))


def test_a_viewer_watches_but_cannot_act(tab: Tab) -> None:
    tab.login("viewer")
    expect(tab.page.get_by_role("heading", name="Rollouts")).to_be_visible()
    expect(tab.page.get_by_role("link", name="Start a rollout")).to_have_count(0)
    tab.expect_error_status(403, "/ops/rollouts/new")
    tab.go("/ops/rollouts/new")
    expect(tab.page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_an_operator_runs_a_rollout_from_the_browser(tab: Tab, site: Site) -> None:
    page = tab.page
    tab.login("operator")
    expect(page).to_have_url(re.compile(r"/ops/$"))

    # Start on the record driver.
    page.get_by_role("link", name="Start a rollout").click()
    page.get_by_role("textbox", name="Version", exact=True).fill(CANARY_VERSION)
    page.get_by_label("Stable version").fill(STABLE_VERSION)
    page.get_by_label("Plan").select_option(label="browser")
    page.get_by_label("Driver").select_option("record")
    page.get_by_role("button", name="Start rollout").click()
    expect(page.locator(".message-success")).to_contain_text(f"Rollout of {CANARY_VERSION}")
    expect(page.locator(".weight")).to_have_text("5%")
    expect(page.locator('[data-phase="1"]')).to_have_attribute("data-status", "current")

    # The controller judges phase 1 in another process; the open page updates by itself,
    # keeping open what the reader opened.
    url_before = page.url
    page.locator('tr[data-action="start"] summary').click()
    tick = site.manage("rollout", "tick")
    assert "advanced" in tick, tick
    expect(page.locator('[data-phase="2"]')).to_have_attribute(
        "data-status", "current", timeout=15_000
    )
    expect(page.locator(".weight")).to_have_text("25%")
    expect(page.locator('[data-phase="1"] .verdict-pass')).to_have_count(2)
    assert page.url == url_before  # refreshed in place, not reloaded
    expect(page.locator('tr[data-action="start"] details')).to_have_attribute("open", "")

    # A person checks the gates of phase 2, then advances with confirmation.
    page.get_by_role("button", name="Check gates now").click()
    expect(page.locator(".message-success")).to_contain_text("Checked 2 gate(s): all passed")
    gates = page.locator('table[data-gates="current"]')
    expect(gates.locator(".verdict-pass")).to_have_count(2)
    expect(gates).to_contain_text(f"version {CANARY_VERSION}")
    page.get_by_role("link", name="Advance…").click()
    expect(page.get_by_role("heading", name=re.compile("Advance rollout"))).to_be_visible()
    page.get_by_role("button", name="Yes, advance").click()
    expect(page.locator(".weight")).to_have_text("50%")
    expect(page.locator('[data-phase="3"]')).to_have_attribute("data-status", "current")
    # Nothing changes while it bakes: the region is left alone (no flicker), though it polls.
    page.evaluate("document.querySelector('.live-root').marker = 'unchanged'")
    page.wait_for_timeout(4000)
    assert page.evaluate("document.querySelector('.live-root').marker") == "unchanged"
    # In UTC, as every time on the console, whatever the browser's locale.
    expect(page.locator("[data-live-status]")).to_have_text(
        re.compile(r"Live: updated \d\d:\d\d:\d\d UTC")
    )
    tab.screenshot("rollout-detail-running")

    # Abort: a reason is required, and lands in the event log with the operator's name.
    page.get_by_role("link", name="Abort…").click()
    tab.expect_error_status(400, "/abort")
    page.get_by_role("button", name="Yes, abort").click()
    expect(page.locator(".error")).to_contain_text("Say why")
    page.get_by_label("Reason").fill("Browser test: holding the release")
    page.get_by_role("button", name="Yes, abort").click()
    expect(page.locator(".live-root")).to_have_attribute("data-state", "aborted")
    expect(page.locator(".weight")).to_have_text("0%")
    abort = page.locator('tr[data-action="abort"]')
    expect(abort).to_contain_text("operator")
    expect(abort).to_contain_text("Browser test: holding the release")
    expect(page.locator('[data-phase="3"]')).to_have_attribute("data-status", "stopped")
    expect(page.get_by_role("link", name="Advance…")).to_have_count(0)
    tab.screenshot("rollout-detail")

    # The execution log downloads as Markdown in the execution log's shape.
    with page.expect_download() as download:
        page.get_by_role("link", name="Execution log (Markdown)").click()
    text = open(download.value.path(), encoding="utf-8").read()  # noqa: SIM115
    assert text.startswith("#")
    assert CANARY_VERSION in text
    assert "ABORTED" in text

    # The public status page shows the maintenance window the rollout opened and closed.
    tab.go("/status")
    expect(page.locator(".status-now")).to_have_attribute("data-status", "operational")
    expect(page.locator(".entry-maintenance")).to_contain_text(CANARY_VERSION)
    tab.screenshot("status-page")


def test_the_slo_dashboard_charts_real_traffic(tab: Tab, site: Site) -> None:
    # At least the objectives' min_samples (50) per endpoint, whatever other tests sent.
    site.traffic(["/v1/health", "/v1/contacts?limit=5", "/v1/jobs?limit=5"], times=60)
    page = tab.page
    tab.login("operator")
    # Metrics flush every second in this server; wait for the rows to land.
    for _ in range(20):
        tab.go(f"/ops/slo?window=15m&stable={STABLE_VERSION}&canary={CANARY_VERSION}")
        points = page.locator("#contacts svg.chart circle.pt.q-95").count()
        if points:
            break
        page.wait_for_timeout(500)
    all_api = page.locator("#all")
    rate = all_api.locator('figure[data-chart="All API endpoints: request rate"]')
    assert int(rate.get_attribute("data-points") or 0) >= 1
    # The canary carried the traffic. Stable had none: a rate of zero, but no error rate or
    # latency at all (a gap, not a zero).
    expect(rate.locator("circle.pt.s-canary").first).to_be_visible()
    stable_rates = rate.locator("circle.pt.s-stable")
    assert {
        stable_rates.nth(i).get_attribute("data-value") for i in range(stable_rates.count())
    } == {"0"}
    errors = all_api.locator('figure[data-chart="All API endpoints: error rate (5xx)"]')
    expect(errors.locator("circle.pt.s-canary").first).to_be_visible()
    expect(errors.locator("circle.pt.s-stable")).to_have_count(0)
    contacts = page.locator("#contacts")
    latency = contacts.locator(f'figure[data-chart="Contacts: latency, canary {CANARY_VERSION}"]')
    expect(latency.locator("circle.pt.q-95").first).to_be_visible()
    expect(latency.locator("line.t-target")).to_have_count(2)  # the p95 and p99 targets
    expect(contacts.locator(".slo-insufficient_data").first).to_be_visible()  # stable: no data
    for window in ("5m", "1h", "6h", "24h"):
        page.get_by_label(window, exact=True).check()
        expect(page).to_have_url(re.compile(f"window={window}"))
        expect(page.locator("#all svg.chart").first).to_be_visible()
    page.get_by_label("15m", exact=True).check()
    expect(page.locator("#all svg.chart circle.pt").first).to_be_visible()
    tab.screenshot("slo-dashboard", full_page=False)  # the top, for the docs
    tab.screenshot("slo-dashboard-full")


def test_the_status_feed_is_json_without_tenant_data(site: Site) -> None:
    with urllib.request.urlopen(f"{site.url}/status.json", timeout=5) as response:  # noqa: S310
        assert response.headers["Content-Type"] == "application/json"
        body = json.load(response)
    assert body["status"] in {"operational", "maintenance", "incident"}
    text = json.dumps(body)
    assert "acme" not in text
    assert "@" not in text


def test_pages_fit_a_phone(tab: Tab) -> None:
    tab.page.set_viewport_size({"width": 390, "height": 844})
    tab.login("operator")
    for name, path in (("rollouts", "/ops/"), ("slo", "/ops/slo?window=5m"), ("status", "/status")):
        tab.go(path)
        overflow = tab.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
        tab.screenshot(f"phone-{name}", full_page=False)


def test_the_admin_links_to_the_console_and_back(tab: Tab) -> None:
    tab.login("operator")
    tab.go("/admin/")
    tab.page.get_by_role("link", name="Ops console").click()
    expect(tab.page.get_by_role("heading", name="Rollouts")).to_be_visible()
    tab.page.get_by_role("link", name="Admin", exact=True).click()
    expect(tab.page).to_have_url(re.compile(r"/admin/$"))


AXIS_LABELS_INSIDE = """() => [...document.querySelectorAll('svg.chart text.axis')]
    .filter(t => t.getBBox().x < 0).map(t => t.textContent)"""
AXIS_LABEL_HEIGHTS = """() => [...document.querySelectorAll('svg.chart text.axis')]
    .map(t => t.getBoundingClientRect().height)"""
ROW_HEADER_LINES = """() => [...document.querySelectorAll('table.objectives th[scope=row]')]
    .map(th => { const range = document.createRange(); range.selectNodeContents(th);
                 const bottoms = [...range.getClientRects()].map(r => Math.round(r.bottom));
                 return new Set(bottoms).size; })"""


@pytest.mark.parametrize("width", [1366, 390])
def test_the_slo_dashboard_reads_at_desktop_and_phone_widths(
    tab: Tab, site: Site, width: int
) -> None:
    site.traffic(["/v1/health", "/v1/contacts?limit=5"], times=5)
    tab.page.set_viewport_size({"width": width, "height": 900})
    tab.login("operator")
    tab.go(f"/ops/slo?window=1h&stable={STABLE_VERSION}&canary={CANARY_VERSION}")
    expect(tab.page.locator("svg.chart text.axis").first).to_be_visible()
    # No tick label starts left of its chart (".15 req/s" was "0.15 req/s" cut off).
    assert tab.page.evaluate(AXIS_LABELS_INSIDE) == []
    # Labels stay readable however far the chart is scaled down (at least 9 px tall).
    assert min(tab.page.evaluate(AXIS_LABEL_HEIGHTS)) >= 9
    # An objective's name and target take at most three lines, not six.
    assert max(tab.page.evaluate(ROW_HEADER_LINES)) <= 3
    # Each console link is on one line.
    for link in tab.page.locator(".nav a").all():
        box = link.bounding_box()
        assert box is not None
        assert box["height"] < 32, link.text_content()
    tab.screenshot(f"slo-dashboard-{width}", full_page=False)


def test_a_bad_dashboard_query_keeps_the_options_on_the_page(tab: Tab) -> None:
    tab.login("operator")
    tab.expect_error_status(400, "/ops/slo")
    tab.go(f"/ops/slo?window=fortnight&stable={STABLE_VERSION}")
    expect(tab.page.get_by_role("alert")).to_contain_text("window")
    # The selector is still there, at the default window, with the good value kept.
    expect(tab.page.get_by_label("1h", exact=True)).to_be_checked()
    expect(tab.page.get_by_label("Stable version")).to_have_value(STABLE_VERSION)
    tab.page.get_by_label("15m", exact=True).check()
    expect(tab.page).to_have_url(re.compile(r"window=15m"))
    expect(tab.page.locator("svg.chart").first).to_be_visible()


def test_the_admin_phase_page_fits_1280_pixels(tab: Tab) -> None:
    tab.page.set_viewport_size({"width": 1280, "height": 900})
    tab.login("operator")
    tab.go("/admin/ops/rolloutphase/")
    tab.page.get_by_role("link", name="default", exact=True).first.click()
    expect(tab.page.locator("select.gate-kind").first).to_be_visible()
    overflow = tab.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the phase page scrolls sideways by {overflow}px"
    tab.screenshot("admin-phase-1280", full_page=False)
