"""Linked zoom at true pixel scale on the originals' IIIF tiles (issue 15, items 3 and 7): 1:1 on a
6000×4000 original shows a fine pattern its preview cannot; the two panes keep the same picture point
under the cursor for two files of different sizes (a half-size crop), at the same original pixel scale and
at the verified alignment."""

import io
import os

import pytest
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw

from dedup.models import Fingerprint
from tests.test_browser_review import browser, sign_in, start_reviewing  # noqa: F401 - the Chromium fixture
from tests.test_review_corpus import add_image, make_pair, picture

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = pytest.mark.browser


def _png(image):
    out = io.BytesIO()
    image.save(out, "PNG")
    out.seek(0)
    return out


def _open(browser, live_server):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    sign_in(page, live_server.url, "cataloguer")
    start_reviewing(page)
    return page


def _stripes(page, pane):
    """Mean step between horizontally adjacent pixels in the middle of a pane's canvas."""
    return page.evaluate(
        """(pane) => { const c = window.mastercopyReview.view()[pane].drawer.canvas;
        const x0 = Math.round(c.width / 2 - 40), y0 = Math.round(c.height / 2 - 40);
        const d = c.getContext('2d').getImageData(x0, y0, 80, 80).data; let s = 0, n = 0;
        for (let y = 0; y < 80; y++) for (let x = 0; x < 79; x++) {
          const i = (y * 80 + x) * 4; s += Math.abs(d[i] - d[i + 4]); n += 1; }
        return s / n; }""",
        pane,
    )


def test_one_to_one_on_a_6000_by_4000_original_shows_what_the_preview_cannot(
    browser, live_server, personas, collection  # noqa: F811
):
    big = picture(11, (6000, 4000))
    ImageDraw.Draw(big).rectangle((2700, 1700, 3300, 2300), fill="white")
    stripes = big.load()
    for x in range(2700, 3300, 2):  # one-pixel black lines, one pixel apart
        for y in range(1700, 2300):
            stripes[x, y] = (0, 0, 0)
    original = add_image(collection, "BIG-1", _png(big))
    copy = add_image(collection, "BIG-1-small", _png(big.resize((1500, 1000))))
    make_pair(original, copy, score=0.9, params={"scale": 0.25})
    preview = Image.open(default_storage.open(Fingerprint.objects.get(image=original).preview_key))
    px = preview.convert("L").load()
    cx, cy = preview.width // 2, preview.height // 2
    middle = [(x, y) for x in range(cx - 40, cx + 40) for y in range(cy - 40, cy + 40)]
    preview_step = sum(abs(px[x, y] - px[x + 1, y]) for x, y in middle)
    assert preview_step / 6400 < 20  # the preview has lost the lines: a flat grey

    page = _open(browser, live_server)
    at_fit = _stripes(page, "left")
    assert at_fit < 20  # at Fit, neither shows them
    page.keyboard.press("1")
    page.wait_for_function(
        "() => { const v = window.mastercopyReview.view(); const t = v.left.world.getItemAt(0);"
        " return Math.abs(v.left.viewport.getZoom(true) - v.left.viewport.getZoom()) < 1e-6"
        " && t.getFullyLoaded(); }"
    )
    page.wait_for_timeout(300)

    assert page.evaluate(
        "() => { const v = window.mastercopyReview.view(); const t = v.left.world.getItemAt(0);"
        " return t.viewportToImageZoom(v.left.viewport.getZoom(true)); }"
    ) == pytest.approx(1, rel=0.01)
    # The lines, one screen pixel each (softened by the JPEG tiles and sub-pixel placement).
    assert _stripes(page, "left") > max(40, 3 * at_fit)


def _points_under(page, fx, fy):
    """The original's pixel under the same place (fractions of the pane) in the left and right panes."""
    return page.evaluate(
        """([fx, fy]) => { const v = window.mastercopyReview.view();
        return [v.left, v.right].map((viewer) => { const size = viewer.viewport.getContainerSize();
          const p = viewer.world.getItemAt(0).viewerElementToImageCoordinates(
            new OpenSeadragon.Point(fx * size.x, fy * size.y));
          return [p.x, p.y]; }); }""",
        [fx, fy],
    )


def test_linked_zoom_keeps_the_picture_point_under_the_cursor(browser, live_server, personas, collection):  # noqa: F811
    base = picture(12, (1600, 1200))
    crop = base.crop((400, 300, 1400, 1050)).resize((500, 375))  # a half-size crop: other dimensions
    left = add_image(collection, "ZOOM-1", _png(base))
    right = add_image(collection, "ZOOM-1-crop", _png(crop))
    # As verification stores a crop of Left (dedup/verify.py: crop_box in Left's fractions).
    params = {"scale": 0.5, "crop_of": "left", "crop_box": [0.25, 0.25, 0.875, 0.875], "crop_area": 0.391}
    make_pair(left, right, score=0.9, relation="resized+cropped", params=params)
    page = _open(browser, live_server)
    pane = page.locator("#osd-left").bounding_box()
    fx, fy = 0.42, 0.55

    def zoom_at_cursor():
        page.mouse.move(pane["x"] + fx * pane["width"], pane["y"] + fy * pane["height"])
        for _ in range(4):
            page.mouse.wheel(0, -240)
            page.wait_for_timeout(150)
        page.wait_for_timeout(600)

    for mode in ("pixels", "aligned"):
        if mode == "aligned":
            page.keyboard.press("l")
            assert page.locator("#viewer").get_attribute("data-link") == "aligned"
        zoom_at_cursor()
        (lx, ly), (rx, ry) = _points_under(page, fx, fy)
        # Right's pixel is Left's, less the crop's corner, at half the scale (within 1% of Right's width).
        assert (rx, ry) == (pytest.approx((lx - 400) / 2, abs=6), pytest.approx((ly - 300) / 2, abs=6)), mode
        scales = page.evaluate(
            """() => { const v = window.mastercopyReview.view();
            return [v.left, v.right].map((viewer) => viewer.world.getItemAt(0)
              .viewportToImageZoom(viewer.viewport.getZoom(true))); }"""
        )
        if mode == "pixels":  # one screen pixel per original pixel in both panes' scale
            assert scales[0] == pytest.approx(scales[1], rel=0.02)
        else:  # the same picture scale: Right's pixels twice as large
            assert scales[1] == pytest.approx(2 * scales[0], rel=0.03)
