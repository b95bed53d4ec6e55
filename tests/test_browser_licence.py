"""A licensing team member enters a licence number in a real browser and sees, on one page, the exact
file the client bought, what has happened to it since, and what the catalogue delivers today."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalogue.models import CatalogueRecord, ImageFile
from licensing.models import Licence
from review import services
from tests.test_browser_review import ARTIFACTS, browser, sign_in  # noqa: F401 - the Chromium fixture
from tests.test_review_corpus import build_corpus

pytestmark = pytest.mark.browser


def test_a_licence_number_answers_on_one_page(browser, live_server, personas, collection):  # noqa: F811
    (pair,) = build_corpus(collection, pairs=1)
    month_ago = timezone.now() - timedelta(days=30)
    CatalogueRecord.objects.update(created_at=month_ago, rights="CC BY 4.0")
    ImageFile.objects.update(created_at=month_ago)
    CatalogueRecord.objects.filter(catalogue_number="HP-000").update(rights="All rights reserved")
    web = CatalogueRecord.objects.get(catalogue_number="HP-000-web")
    Licence.objects.create(
        number="LIC-2026-0042",
        client="Harbour Press",
        collection=collection,
        catalogue_number=web.catalogue_number,
        record=web,
        licensed_on=timezone.localdate() - timedelta(days=10),
        usage="book cover, 5000 copies",
        territory="Europe",
    )
    decision = services.decide_duplicate(
        pair, CatalogueRecord.objects.get(catalogue_number="HP-000"), actor=personas["cataloguer"]
    )
    bought = ImageFile.objects.get(record=web)
    today = ImageFile.objects.get(record__catalogue_number="HP-000")
    page = browser.new_page(viewport={"width": 1300, "height": 1400})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)

    sign_in(page, live_server.url, "cataloguer", next="/licensing/licences/")
    page.fill("input[name=q]", "LIC-2026-0042")
    page.press("input[name=q]", "Enter")
    page.wait_for_url(f"**/licensing/licences/{Licence.objects.get().pk}/")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "licence-answer.png"), full_page=True)

    assert page.locator(".sha-then").inner_text() == bought.sha256
    assert bought.source_path in page.locator(".file-then").inner_text()
    assert today.sha256 in page.locator(".file-now").inner_text()
    assert page.locator(".rights-then").inner_text() == "CC BY 4.0"
    assert page.locator(".rights-now").inner_text() == "All rights reserved"
    assert page.locator(".superseded-since").count() == 1
    assert f"decision {decision.pk}" in page.locator(".timeline.since").inner_text()
    assert errors == []
