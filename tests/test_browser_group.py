"""The group screen in a real browser: a cataloguer clears a candidate group of five by keyboard
(choosing another master, marking each member), sees what was recorded, and undoes the whole submit
with one key. Drives the system's Chromium through Playwright, like tests/test_browser_review.py."""

import os

import pytest

from catalogue.models import CatalogueRecord
from review.models import Decision, ReviewItem
from tests.test_browser_review import browser, sign_in  # noqa: F401 - the fixture
from tests.test_group_review import make_group

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = pytest.mark.browser


def test_a_cataloguer_clears_a_group_of_five_by_keyboard(browser, live_server, personas, collection):  # noqa: F811
    group, images = make_group(collection, 5)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_server.url, "cataloguer", next="/review/groups/")
    page.click(f'a[href="/review/groups/{group.pk}/"]')
    page.wait_for_selector("#group-form")
    assert "10 pairs wait for a decision" in page.content()

    # j: to the second member; m: it is the master; k: back to the proposed one; then d d d n down the
    # list (the master's own marks are skipped by j), and Enter submits.
    for key in ["j", "m", "k", "d", "j", "d", "d", "n"]:
        page.keyboard.press(key)
    assert page.locator('li.member.chosen-master').get_attribute("data-member") == str(images[1].pk)
    page.keyboard.press("Enter")
    page.wait_for_selector(".message.success")
    assert "decisions recorded" in page.locator(".message.success").inner_text()

    master = images[1].record
    for image in (images[0], images[2], images[3]):
        record = CatalogueRecord.objects.get(pk=image.record_id)
        assert (record.status, record.master_id) == (CatalogueRecord.Status.SUPERSEDED, master.pk)
    assert CatalogueRecord.objects.get(pk=images[4].record_id).status == CatalogueRecord.Status.ACTIVE
    items = ReviewItem.objects.filter(pair__image_a__in=images)
    assert items.count() == 10 and not items.exclude(status=ReviewItem.Status.DECIDED).exists()
    batch = Decision.objects.filter(actor=personas["cataloguer"]).values_list("batch", flat=True)
    assert len(set(batch)) == 1

    page.keyboard.press("u")
    page.wait_for_selector("#group-form")
    assert "Undone" in page.locator(".message.success").inner_text()
    assert not CatalogueRecord.objects.filter(
        pk__in=[i.record_id for i in images], status=CatalogueRecord.Status.SUPERSEDED
    ).exists()
    assert errors == []


def test_the_first_mark_holds_the_group_and_a_held_group_says_so_at_once(
    browser,  # noqa: F811
    live_server,
    personas,
    collection,
):
    group, images = make_group(collection, 3)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_server.url, "cataloguer", next=f"/review/groups/{group.pk}/")
    page.wait_for_selector("#group-form")
    items = ReviewItem.objects.filter(pair__group=group)
    assert not items.filter(leased_by__isnull=False).exists()  # looking leases nothing

    page.keyboard.press("j")  # from the proposed master to the next member: moving holds nothing
    assert not items.filter(leased_by__isnull=False).exists()
    page.keyboard.press("d")  # the first mark
    page.wait_for_selector("#group-form[data-held=yes]")
    assert set(items.values_list("leased_by", flat=True)) == {personas["cataloguer"].pk}

    other = browser.new_page(viewport={"width": 1400, "height": 1000})
    other.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(other, live_server.url, "supervisor", next=f"/review/groups/{group.pk}/")
    other.wait_for_selector("#group-form")
    other.keyboard.press("j")
    other.keyboard.press("d")
    other.wait_for_selector("#group-hold:not([hidden])")
    assert "Someone else is reviewing pairs of this group" in other.locator("#group-hold").inner_text()
    assert set(items.values_list("leased_by", flat=True)) == {personas["cataloguer"].pk}
    assert errors == []
