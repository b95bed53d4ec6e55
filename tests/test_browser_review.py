"""The review screen in a real browser: a cataloguer decides one item of each kind by keyboard, the
next item arrives without a page reload, and the catalogue shows the consequences.

Drives the system's Chromium through Playwright (never a downloaded browser); screenshots of the item
screen go to test-artifacts/ (kept by CI)."""

import os
import shutil
from pathlib import Path

import pytest

from catalogue.models import CatalogueRecord
from review.models import Decision, ReviewItem
from tests.conftest import REPO, need
from tests.test_review_corpus import PASSWORD, build_corpus

# Playwright's sync API runs an event loop in this thread; Django's ORM calls here are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def browser():
    need(Path(CHROMIUM).exists() or shutil.which("chromium"), "chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "the playwright Python package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield browser
        browser.close()


def sign_in(page, url, user, next="/review/", lands=None):
    """Sign `user` in through the login form (the personas' password) and wait for the page `next`, or
    for `lands` (a URL pattern) where the server sends the browser on from `next`."""
    page.goto(f"{url}/accounts/login/?next={next}")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(f"**{lands or next}")
    return page


def drawn(page):
    """Both panes' pictures loaded (the viewer says so)."""
    page.wait_for_function("() => { const v = window.mastercopyReview.view(); return v && v.loaded; }")


def start_reviewing(page):
    """From the review home page to the first item, drawn."""
    page.click("#start-reviewing")
    page.wait_for_url("**/review/items/**")
    drawn(page)


def wait_for_next_item(page, previous):
    page.wait_for_function(
        "(previous) => { const head = document.querySelector('#review-item .item-head');"
        " return !head || head.dataset.item !== previous; }",
        arg=previous,
    )


def wait_for_overlay(page):
    """Both pictures of the overlay viewer drawn (Right composited on Left)."""
    page.wait_for_function(
        "() => { const v = window.mastercopyReview.view(); return v && v.top && v.top.getFullyLoaded()"
        " && v.overlay.world.getItemAt(0).getFullyLoaded(); }"
    )
    page.wait_for_timeout(300)


def overlay_mean(page):
    """The mean grey of the overlay's canvas where a picture is drawn (alpha > 0)."""
    return page.evaluate(
        """() => { const c = window.mastercopyReview.view().overlay.drawer.canvas;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = 0, n = 0; for (let i = 0; i < d.length; i += 4) { if (d[i + 3] === 0) continue;
        s += d[i] + d[i + 1] + d[i + 2]; n += 1; }
        return n ? s / n / 3 : 255; }"""
    )


def current_item(page):
    return page.locator("#review-item .item-head").get_attribute("data-item")


def test_a_cataloguer_decides_by_keyboard(browser, live_server, personas, collection):
    build_corpus(collection, pairs=6)
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The CSP is strict (no inline script or style): the screen must not need what it refuses.
    refused = []
    page.on(
        "console",
        lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None,
    )

    sign_in(page, live_server.url, "cataloguer")
    assert "6 pairs wait for a decision" in page.content()
    page.click("#start-reviewing")
    page.wait_for_url("**/review/items/**")

    # Both previews drawn by OpenSeadragon, side by side; then the overlays.
    page.wait_for_function(
        "() => document.querySelectorAll('#osd-left canvas, #osd-right canvas').length >= 2"
    )
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / "review-side-by-side.png"))
    page.keyboard.press("f")
    page.wait_for_timeout(700)
    assert page.locator("#viewer").get_attribute("data-mode") == "flicker"
    page.screenshot(path=str(ARTIFACTS / "review-flicker.png"))
    page.keyboard.press("w")
    page.wait_for_timeout(400)
    page.screenshot(path=str(ARTIFACTS / "review-swipe.png"))
    page.keyboard.press("d")
    wait_for_overlay(page)
    page.screenshot(path=str(ARTIFACTS / "review-difference.png"))
    # The difference of a copy and its half-size recompression, drawn at the alignment, is nearly black.
    mean = overlay_mean(page)
    page.keyboard.press("v")
    assert mean < 10, mean

    # One decision of each kind, each one keystroke, without reloading the page.
    page.evaluate("() => { window.__samePage = true; }")
    decided = []
    for key in ("ArrowLeft", "k", "r", "n", "s", "e"):
        item = current_item(page)
        decided.append(int(item))
        if key == "r":
            page.keyboard.press("c")
            page.keyboard.type("another print of the same view")
            page.keyboard.press("Escape")
        page.keyboard.press(key)
        wait_for_next_item(page, item)
    page.wait_for_selector("text=The queue is empty for these filters")
    assert page.evaluate("() => window.__samePage === true")
    assert not errors, errors
    assert refused == [], refused

    kinds = list(
        Decision.objects.filter(actor=personas["cataloguer"]).order_by("pk").values_list("kind", flat=True)
    )
    assert kinds == ["duplicate", "duplicate", "related", "distinct", "skip", "escalate"]
    statuses = [ReviewItem.objects.get(pk=pk).status for pk in decided]
    assert statuses == ["decided", "decided", "decided", "decided", "open", "escalated"]
    assert Decision.objects.get(kind="related").comment == "another print of the same view"
    keep_left, keep_right = Decision.objects.filter(kind="duplicate").order_by("pk")
    first = ReviewItem.objects.get(pk=decided[0]).pair
    assert keep_left.master_id == first.image_a.record_id
    second = ReviewItem.objects.get(pk=decided[1]).pair
    assert keep_right.master_id == second.image_b.record_id

    superseded = CatalogueRecord.objects.get(pk=keep_left.superseded_id)
    page.goto(f"{live_server.url}/search/?q={superseded.catalogue_number}")
    assert "is superseded: it resolves to the master record" in page.content()
    page.click("text=Open the master record")
    page.wait_for_url(f"**{keep_left.master.get_absolute_url()}")
    assert superseded.catalogue_number in page.content()
    page.screenshot(path=str(ARTIFACTS / "review-master-record.png"), full_page=True)


def test_a_supervisor_sees_the_charts(browser, live_server, personas, collection):
    from review import services
    from tests.test_audit_chain import make_pairs

    for n, pair in enumerate(make_pairs(collection, 6, start=500)):
        kind = (Decision.Kind.RELATED, Decision.Kind.DISTINCT)[n % 2]
        services.decide(pair, kind, actor=personas["cataloguer"])
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    sign_in(page, live_server.url, "supervisor", next="/review/supervisor/charts/")
    page.wait_for_function("() => document.body.dataset.chartsReady === '1'")
    page.screenshot(path=str(ARTIFACTS / "supervisor-charts.png"), full_page=True)

    assert errors == []
    assert page.evaluate("() => Chart.getChart('chart-scores').data.datasets.length") == 5
