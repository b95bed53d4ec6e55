"""The pair screen in a real browser suggests the original as master over an upscaled copy and over a
bordered copy, and says why (issue 13: the source is the master). The copies are made from a real photo,
imported and verified by the real pipeline; one sorts before its original (the original is Right) and
one after (Left), so the suggestion follows the direction, not the side."""

import io
import random

import pytest
from django.core.management import call_command

from catalogue.variants import make_variant
from dedup.models import CandidatePair
from review.models import ReviewItem
from tests.conftest import SHARED_PHOTOS
from tests.test_browser_review import ARTIFACTS, browser, sign_in  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser
PHOTO = SHARED_PHOTOS / "inet_n02002556_white_stork.jpg"


def run(command, *args, **options):
    call_command(command, *args, stdout=io.StringIO(), stderr=io.StringIO(), **options)


@pytest.fixture
def copies(photos, tmp_path):
    """The photo, an upscale of it imported before it and a bordered copy imported after it."""
    root = tmp_path / "archive"
    for folder in ("a", "m", "z"):
        (root / folder).mkdir(parents=True)
    (root / "m" / "stork.jpg").write_bytes(PHOTO.read_bytes())
    upscaled = make_variant(PHOTO, "upscaled-bicubic", rng=random.Random(1), scale=1.6)
    bordered = make_variant(PHOTO, "bordered", rng=random.Random(2))
    (root / "a" / "stork-large.jpg").write_bytes(upscaled.data)
    (root / "z" / "stork-framed.jpg").write_bytes(bordered.data)
    run("import_collection", str(root), collection="Archive", no_progress=True)
    run("find_duplicates", no_progress=True)


def pair_of(first, second):
    return CandidatePair.objects.get(
        image_a__source_path__endswith=first, image_b__source_path__endswith=second
    )


def test_the_original_is_suggested_over_an_upscale_and_a_bordered_copy(
    browser,  # noqa: F811 - the fixture imported above
    live_server,
    personas,
    copies,
):
    upscale = pair_of("stork-large.jpg", "stork.jpg")  # the upscale is Left, the original Right
    framed = pair_of("stork.jpg", "stork-framed.jpg")  # the original is Left
    assert (upscale.relation, upscale.source_side, upscale.derivation) == ("upscaled", "b", "upscaled")
    assert (framed.relation, framed.source_side, framed.derivation) == ("bordered", "a", "bordered")
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_server.url, "cataloguer")

    page.goto(live_server.url + ReviewItem.objects.get(pair=upscale).get_absolute_url())
    right = page.locator("#review-item .pane.right figcaption")
    left = page.locator("#review-item .pane.left figcaption")
    assert right.locator(".badge", has_text="suggested master").count() == 1
    assert left.locator(".badge", has_text="suggested master").count() == 0
    assert left.locator(".badge.upscaled").inner_text() == "upscaled 1.6×"
    assert "effective resolution 533×800" in left.inner_text()  # the original's size: no new detail
    reason = page.locator("#review-item .master-reason").inner_text()
    assert reason == "Right is the source: Left is Right upscaled 1.6×; an upscale adds no detail."
    assert "Duplicate: keep right as master" in page.locator("#review-item .suggestion").inner_text()
    page.screenshot(path=str(ARTIFACTS / "direction-upscaled.png"), full_page=True)

    page.goto(live_server.url + ReviewItem.objects.get(pair=framed).get_absolute_url())
    shown = page.locator("#review-item")
    assert shown.locator(".pane.left figcaption .badge", has_text="suggested master").count() == 1
    assert shown.locator(".pane.right figcaption .badge", has_text="suggested master").count() == 0
    reason = page.locator("#review-item .master-reason").inner_text()
    assert reason == "Left is the source: Right is Left with a border added."
    assert "Duplicate: keep left as master" in page.locator("#review-item .suggestion").inner_text()
    page.screenshot(path=str(ARTIFACTS / "direction-bordered.png"), full_page=True)
    assert not errors
