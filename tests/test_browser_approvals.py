"""Approvals in a real browser, under the strict CSP: a supervisor filters the Approvals page by
collection (the select submits itself) and approves a waiting proposal with a comment."""

import pytest

from catalogue.models import CatalogueRecord, Collection
from review import approval, services
from review.models import Decision, ReviewItem
from tests.test_browser_review import ARTIFACTS, browser, sign_in  # noqa: F401 - the Chromium fixture
from tests.test_review_corpus import build_corpus

pytestmark = pytest.mark.browser


def propose(collection, cataloguer):
    collection.policy = {"approval_rules": ["duplicate"]}
    collection.save()
    (pair,) = build_corpus(collection, pairs=1)
    services.sync_queue()
    item = ReviewItem.objects.get(pair=pair)
    services.claim(item.pk, cataloguer)
    return services.review(item.pk, cataloguer, Decision.Kind.DUPLICATE, master_side="left")


def test_a_supervisor_approves_in_the_browser(browser, live_server, personas, collection):  # noqa: F811
    other = Collection.objects.create(name="Another collection")
    proposal = propose(collection, personas["cataloguer"])
    assert proposal.pending
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)

    sign_in(page, live_server.url, "supervisor", next="/review/supervisor/approvals/")
    assert page.locator(f'tr[data-decision="{proposal.pk}"]').count() == 1

    page.select_option("select[name=collection]", str(other.pk))  # submits itself (static/js/base.js)
    page.wait_for_url(f"**collection={other.pk}")
    assert "Nothing waits for approval." in page.content()
    page.select_option("select[name=collection]", str(collection.pk))
    page.wait_for_url(f"**collection={collection.pk}")

    row = page.locator(f'tr[data-decision="{proposal.pk}"]')
    row.locator("input[name=comment]").fill("licence file checked")
    row.locator("button", has_text="Approve").click()
    page.wait_for_selector(".message")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "approvals.png"))

    assert "approved" in page.content()
    applied = Decision.objects.get(approves=proposal)
    assert applied.comment == "licence file checked" and not approval.is_waiting(proposal)
    superseded = CatalogueRecord.objects.get(pk=proposal.superseded_id)
    assert superseded.status == "superseded" and errors == []
