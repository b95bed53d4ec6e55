"""The API's Swagger UI page in a real browser: served from our own static files (no CDN), it renders
every operation under the strict Content-Security-Policy without a single violation."""

import pytest

from tests.test_browser_review import ARTIFACTS, browser, sign_in  # noqa: F401 - the Chromium fixture

pytestmark = pytest.mark.browser


def test_the_api_docs_render_under_the_csp(browser, live_server, personas):  # noqa: F811
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "console",
        lambda message: problems.append(message.text)
        if message.type == "error" or "Content Security Policy" in message.text
        else None,
    )
    outside = []
    page.on(
        "request",
        lambda request: outside.append(request.url) if not request.url.startswith(live_server.url) else None,
    )

    sign_in(page, live_server.url, "cataloguer", next="/api/docs/")
    page.wait_for_selector(".opblock", timeout=30000)

    operations = page.locator(".opblock").count()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
    assert operations >= 20, operations
    assert "/api/decisions/" in page.content()
    assert problems == [] and outside == []


def test_the_api_docs_need_a_signed_in_user(client):
    assert client.get("/api/docs/").status_code == 401
