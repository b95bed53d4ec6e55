"""Instant next pair (issue 15, item 4): after the decision key the next pair is fully visible (both panes'
tiles drawn, measured with the Performance API from the key's submit to the frame after the last tile)
in <= 300 ms on localhost, because its page, previews and first tiles were fetched while the reviewer
looked at this one. The same run measures the baseline with the preparing switched off
(localStorage mastercopy.prefetch = off). bench/next_pair.py runs this test and prints the figures
(NEXT_PAIR_REPORT names the file they are written to)."""

import json
import os
import statistics

import pytest

from tests.test_browser_review import (
    browser,  # noqa: F401 - the Chromium fixture
    current_item,
    sign_in,
    start_reviewing,
    wait_for_next_item,
)
from tests.test_review_corpus import build_corpus

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = pytest.mark.browser
GOAL_MS = 300
DECISIONS = 5


def _session(browser, live_server, prefetch):  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    if not prefetch:
        context.add_init_script("window.localStorage.setItem('mastercopy.prefetch', 'off')")
    page = context.new_page()
    sign_in(page, live_server.url, "cataloguer")
    start_reviewing(page)
    return context, page


def _decide_and_time(page, prefetch, n):
    times = []
    for i in range(n):
        if prefetch:  # the reviewer looks at the pair while the next one is prepared
            page.wait_for_function("() => window.mastercopyReview.prepared()")
        else:
            page.wait_for_timeout(1000)
        item = current_item(page)
        page.keyboard.press("n")
        wait_for_next_item(page, item)
        page.wait_for_function(f"() => performance.getEntriesByName('mc-next-pair').length >= {i + 1}")
        page.wait_for_function("() => document.querySelector('#decision-form input[name=claim]') === null")
        times.append(page.evaluate("() => performance.getEntriesByName('mc-next-pair').at(-1).duration"))
    return times


def test_the_next_pair_is_on_screen_within_300_ms_of_the_key(browser, live_server, personas, collection):  # noqa: F811
    build_corpus(collection, pairs=2 * DECISIONS + 2)
    context, page = _session(browser, live_server, prefetch=True)
    prepared = _decide_and_time(page, True, DECISIONS)
    context.close()
    context, page = _session(browser, live_server, prefetch=False)
    baseline = _decide_and_time(page, False, DECISIONS)
    context.close()

    report = {
        "goal_ms": GOAL_MS,
        "prefetch_ms": prepared,
        "baseline_ms": baseline,
        "prefetch_median_ms": statistics.median(prepared),
        "prefetch_max_ms": max(prepared),
        "baseline_median_ms": statistics.median(baseline),
    }
    if os.environ.get("NEXT_PAIR_REPORT"):
        with open(os.environ["NEXT_PAIR_REPORT"], "w") as out:
            json.dump(report, out)
    assert report["prefetch_median_ms"] <= GOAL_MS, report


def test_a_document_wide_selector_finds_only_the_shown_item_while_the_next_is_prepared(
    browser,  # noqa: F811
    live_server,
    personas,
    collection,
):
    build_corpus(collection, pairs=3)
    context, page = _session(browser, live_server, prefetch=True)
    page.wait_for_function("() => window.mastercopyReview.prepared()")
    shown = current_item(page)
    # The next pair is there, drawn, in the prepared slot...
    prepared = page.evaluate("() => window.mastercopyReview.preparedItem()")
    assert prepared not in (None, shown)
    # ...and the document's own selectors (by class, by id, by attribute) find only the one on screen.
    outside = page.evaluate(
        """() => ['.item-head', '.suggestion', '.viewer', '#viewer', '#decision-form', '#osd-left',
                  '[data-item]', 'button[data-keys]', 'canvas']
            .map((selector) => Array.from(document.querySelectorAll(selector)))
            .map((found, n) => [n, found.length, found.filter((e) => !e.closest('#review-item')).length])"""
    )
    assert all(found >= 1 and stray == 0 for _selector, found, stray in outside), outside
    assert page.evaluate(f"() => document.querySelectorAll('[data-item=\"{prepared}\"]').length") == 0
    # Nor do the tests' own (Playwright's CSS looks into open shadow trees too).
    assert page.locator(".item-head").count() == 1 and page.locator("#viewer").count() == 1
    assert page.locator(f'[data-item="{prepared}"]').count() == 0
    # Shown at the key: the prepared item is now the document's, and the only one.
    page.keyboard.press("n")
    wait_for_next_item(page, shown)
    assert current_item(page) == prepared
    assert page.locator(".item-head").count() == 1
    context.close()
