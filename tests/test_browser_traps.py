"""The review screen's traps, each in a real browser (issue 15, item 5): the language switch stays on the
current item; undo goes back step by step; a pair opened from a link is decided from the keyboard; Back
and Forward move between pairs; `?` opens the keys; the decisions fit 1280×720; the re-review screen has
the same viewer and keys; Fit shows a caption strip whole; flicker shows a mirrored copy un-mirrored."""

import io
import os

import pytest
from PIL import Image, ImageDraw

from review import rereview
from review.models import Decision, ReviewItem
from tests.test_browser_review import (
    browser,  # noqa: F401 - the Chromium fixture
    current_item,
    drawn,
    overlay_mean,
    sign_in,
    start_reviewing,
    wait_for_next_item,
)
from tests.test_review_corpus import add_image, build_corpus, encode, make_pair, picture

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = pytest.mark.browser


def signed_in(browser, live_server, who="cataloguer", size=(1400, 1000), start="/review/", lands=None):  # noqa: F811
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    sign_in(page, live_server.url, who, next=start, lands=lands)
    return page


def showing(page, item):
    page.wait_for_function(
        f"() => document.querySelector('#review-item .item-head').dataset.item === '{item}'"
    )


def decide_by_key(page, key):
    item = current_item(page)
    page.keyboard.press(key)
    wait_for_next_item(page, item)
    page.wait_for_function(
        "() => !document.querySelector('#review-item .item-head') || "
        "document.querySelector('#decision-form input[name=claim]') === null"
    )
    return int(item)


def test_the_language_switch_stays_on_the_current_item(browser, live_server, personas, collection):  # noqa: F811
    build_corpus(collection, pairs=3)
    page = signed_in(browser, live_server)
    start_reviewing(page)
    decide_by_key(page, "n")
    now = current_item(page)

    # The select submits its form: wait for the page that answers it, not the one already loaded.
    with page.expect_navigation():
        page.select_option("#language-select", "zh-hant")
    page.wait_for_selector("html[lang='zh-hant']")
    drawn(page)

    assert page.locator("html").get_attribute("lang") == "zh-hant"
    assert current_item(page) == now
    assert f"/review/items/{now}/" in page.url
    assert page.errors == []


def test_undo_goes_back_step_by_step_through_my_decisions(browser, live_server, personas, collection):  # noqa: F811
    build_corpus(collection, pairs=4)
    page = signed_in(browser, live_server)
    start_reviewing(page)
    decided = [decide_by_key(page, key) for key in ("j", "r", "n")]

    back = []
    for _ in decided:
        item = current_item(page)
        page.keyboard.press("u")
        wait_for_next_item(page, item)
        back.append(int(current_item(page)))

    assert back == list(reversed(decided))
    assert "/review/items/" in page.url
    assert Decision.objects.filter(kind="undo").count() == 3
    assert [ReviewItem.objects.get(pk=pk).status for pk in decided] == ["open"] * 3
    # The first pair is on screen again, and decidable: a key decides it anew.
    decide_by_key(page, "k")
    assert ReviewItem.objects.get(pk=decided[0]).decision.kind == "duplicate"
    assert page.errors == []


def test_a_pair_opened_from_a_link_is_decided_from_the_keyboard(browser, live_server, personas, collection):  # noqa: F811
    build_corpus(collection, pairs=3)
    item = ReviewItem.objects.order_by("pk").last()
    page = signed_in(browser, live_server)
    page.goto(f"{live_server.url}/review/items/{item.pk}/")
    drawn(page)

    decide_by_key(page, "j")

    item.refresh_from_db()
    assert item.status == "decided"
    assert (item.decision.kind, item.decision.actor) == ("duplicate", personas["cataloguer"])
    assert item.decision.master_id == item.pair.image_a.record_id
    assert page.errors == []


def test_back_and_forward_move_between_pairs(browser, live_server, personas, collection):  # noqa: F811
    build_corpus(collection, pairs=4)
    page = signed_in(browser, live_server)
    start_reviewing(page)
    first = decide_by_key(page, "n")
    second = int(current_item(page))

    page.go_back()
    showing(page, first)
    assert f"/review/items/{first}/" in page.url
    assert "This pair has been decided. It was your last decision" in page.content()

    page.go_forward()
    showing(page, second)
    drawn(page)
    decide_by_key(page, "r")
    assert ReviewItem.objects.get(pk=second).decision.kind == "related"

    # Back to the first pair again, whose decision is no longer the last: it is shown, and the one after
    # it can still be undone from there, which brings that pair back.
    page.go_back()
    showing(page, second)
    page.keyboard.press("u")
    page.wait_for_function(
        f"() => document.querySelector('#review-item .item-head').dataset.canDecide === 'true'"
        f" && document.querySelector('#review-item .item-head').dataset.item === '{second}'"
    )
    assert ReviewItem.objects.get(pk=second).status == "open"
    assert page.errors == []


def test_question_mark_opens_the_keys(browser, live_server, personas, collection):  # noqa: F811
    build_corpus(collection, pairs=1)
    page = signed_in(browser, live_server)
    start_reviewing(page)
    assert not page.locator("#keys-help").is_visible()

    page.keyboard.press("?")

    dialog = page.locator("#keys-help")
    assert dialog.is_visible()
    assert "Duplicate — keep left" in dialog.inner_text() and "1:1" in dialog.inner_text()
    page.keyboard.press("j")  # keys do not decide behind the overlay
    assert not Decision.objects.exists()
    page.keyboard.press("Escape")
    assert not dialog.is_visible()


def test_the_decision_buttons_fit_a_1280_by_720_screen(browser, live_server, personas, collection):  # noqa: F811
    build_corpus(collection, pairs=2)
    page = signed_in(browser, live_server, size=(1280, 720))
    start_reviewing(page)
    decide_by_key(page, "n")  # so that the undo button is there too
    drawn(page)

    names = ["keep-left", "keep-right", "related", "distinct", "skip", "escalate"]
    boxes = {name: page.locator(f"#decision-form button[value={name}]").bounding_box() for name in names}
    boxes["undo"] = page.locator("#undo-form button").bounding_box()
    for name, box in boxes.items():
        assert box is not None, name
        assert box["y"] >= 0 and box["y"] + box["height"] <= 720, (name, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1280, (name, box)
    assert page.evaluate("() => window.scrollY") == 0


def test_the_rereview_screen_uses_the_same_viewer_and_keys(browser, live_server, personas, collection):  # noqa: F811
    from review import services

    pairs = build_corpus(collection, pairs=2)
    for pair in pairs:
        services.decide(pair, Decision.Kind.RELATED, actor=personas["supervisor"])
    sample = rereview.draw(personas["supervisor"], 10, visible=None)
    page = signed_in(
        browser, live_server, start=f"/review/rereview/{sample.pk}/next/", lands="/review/rereview/items/*/"
    )
    drawn(page)
    assert page.locator("#osd-left canvas").count() and page.locator("#osd-right canvas").count()

    page.keyboard.press("?")
    assert page.locator("#keys-help").is_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("f")
    assert page.locator("#viewer").get_attribute("data-mode") == "flicker"
    first = page.url
    page.keyboard.press("n")
    page.wait_for_url(lambda url: url != first)  # a plain POST and redirect: the next item's page
    drawn(page)
    page.keyboard.press("j")
    page.wait_for_selector("#rereview-done")

    verdicts = list(sample.items.order_by("pk").values_list("kind", flat=True))
    assert verdicts == ["distinct", "duplicate"]
    assert page.errors == []


def _bytes(image, fmt="PNG"):
    out = io.BytesIO()
    image.save(out, fmt)
    out.seek(0)
    return out


def test_fit_shows_a_caption_strip_whole(browser, live_server, personas, collection):  # noqa: F811
    base = picture(7, (800, 600))
    captioned = Image.new("RGB", (800, 720), "white")
    captioned.paste(base, (0, 0))
    ImageDraw.Draw(captioned).text((20, 640), "Harbour Board 1931", fill="black")
    a = add_image(collection, "CAP-1", _bytes(base))
    b = add_image(collection, "CAP-1-captioned", _bytes(captioned))
    make_pair(
        a,
        b,
        score=0.9,
        relation="overlay",
        params={"scale": 1.0, "overlay": "caption strip", "overlay_box": [0.0, 0.8333, 1.0, 1.0]},
    )
    page = signed_in(browser, live_server)
    start_reviewing(page)

    def whole(mode):
        page.keyboard.press("0")
        page.wait_for_timeout(400)  # the panes follow each other on the next frames
        return page.evaluate(
            """() => { const v = window.mastercopyReview.view();
            return [v.left, v.right].map((viewer) => { const seen = viewer.viewport.getBounds(true);
              const image = viewer.world.getItemAt(0).getBounds(true);
              return seen.x <= image.x + 1e-3 && seen.y <= image.y + 1e-3
                && seen.x + seen.width >= image.x + image.width - 1e-3
                && seen.y + seen.height >= image.y + image.height - 1e-3; }); }"""
        )

    assert whole("pixels") == [True, True]
    page.keyboard.press("l")
    assert page.locator("#viewer").get_attribute("data-link") == "aligned"
    assert whole("aligned") == [True, True]


def test_flicker_shows_a_mirrored_copy_un_mirrored(browser, live_server, personas, collection):  # noqa: F811
    base = picture(8, (800, 600))
    a = add_image(collection, "MIR-1", encode(base, quality=92))
    mirrored = base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    b = add_image(collection, "MIR-1-mirrored", encode(mirrored, quality=92))
    make_pair(a, b, score=0.9, relation="mirrored", params={"scale": 1.0, "mirror": "horizontal"})
    page = signed_in(browser, live_server)
    start_reviewing(page)

    # The difference at the alignment is near black (Right is drawn flipped back onto Left).
    page.keyboard.press("d")
    page.wait_for_function(
        "() => { const v = window.mastercopyReview.view(); return v.top && v.top.getFullyLoaded(); }"
    )
    page.wait_for_timeout(300)
    assert overlay_mean(page) < 8
    grab = """() => { const c = window.mastercopyReview.view().overlay.drawer.canvas;
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"""
    page.keyboard.press("t")  # flicker by hand: one picture, then the other
    assert page.locator("#viewer").get_attribute("data-mode") == "flicker"
    page.wait_for_timeout(300)
    shown = page.locator("#viewer").get_attribute("data-shown")
    first = page.evaluate(grab)
    page.keyboard.press("t")
    assert page.locator("#viewer").get_attribute("data-shown") != shown
    page.wait_for_timeout(300)
    second = page.evaluate(grab)

    # The two frames of the flicker are the same picture the same way round (JPEG noise only).
    drawn_px = [i for i in range(0, len(first), 4) if first[i + 3] and second[i + 3]]
    assert len(drawn_px) > 10000
    mean = sum(abs(first[i] - second[i]) for i in drawn_px) / len(drawn_px)
    assert mean < 8, mean
