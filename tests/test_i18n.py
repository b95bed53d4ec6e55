"""English and Traditional Chinese: the per-user language choice, and Chinese catalogue metadata."""

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, TestCase
from django.urls import reverse

from catalogue.models import CatalogueRecord, ImportBatch, Profile
from tests.conftest import jpeg_bytes

PASSWORD = "correct horse battery staple"  # the personas' password (tests/conftest.py)
# Strings only the Chinese UI shows: the navigation link and the collections page heading.
ZH_NAV, ZH_HEADING = "搜尋編目紀錄", "<h1>館藏</h1>"
EN_NAV, EN_HEADING = "Search records", "<h1>Collections</h1>"


def page(client, name="catalogue-collections", **kwargs):
    response = client.get(reverse(name), **kwargs)
    assert response.status_code == 200
    return response.content.decode()


def choose(client, language, next_url=None):
    data = {"language": language}
    if next_url is not None:
        data["next"] = next_url
    return client.post(reverse("catalogue-set-language"), data)


def log_in(username):
    """A fresh browser (no session, no language cookie) that signs in through the login form."""
    browser = Client()
    response = browser.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302, "login failed"
    return browser


@pytest.mark.django_db
def test_the_chinese_catalogue_compiles_and_translates_the_collections_page(client_for):
    assert (settings.BASE_DIR / "locale" / "zh_Hant" / "LC_MESSAGES" / "django.mo").is_file()
    html = page(client_for("cataloguer"), headers={"Accept-Language": "zh-Hant-HK"})
    assert ZH_HEADING in html and ZH_NAV in html
    assert EN_HEADING not in html
    assert '<html lang="zh-hant">' in html


@pytest.mark.django_db
def test_a_user_who_chooses_chinese_keeps_it_across_requests_and_logins(client_for, personas):
    client = client_for("cataloguer")
    assert EN_HEADING in page(client)

    response = choose(client, "zh-hant", next_url=reverse("catalogue-search"))

    assert response.status_code == 302 and response["Location"] == reverse("catalogue-search")
    assert Profile.objects.get(user=personas["cataloguer"]).language == "zh-hant"
    html = page(client)
    assert ZH_HEADING in html and ZH_NAV in html and EN_NAV not in html
    assert "編目號、題名或創作者" in page(client, "catalogue-search")  # the next request, another page

    # Signed out and in again from another browser, with no cookie left behind: the profile decides.
    client.post(reverse("logout"))
    again = log_in("cataloguer")
    assert ZH_HEADING in page(again)
    assert ZH_HEADING in page(log_in("cataloguer"), headers={"Accept-Language": "en"})


@pytest.mark.django_db
def test_another_user_still_sees_english(client_for, personas):
    choose(client_for("cataloguer"), "zh-hant")

    html = page(log_in("supervisor"))

    assert EN_HEADING in html and EN_NAV in html and ZH_HEADING not in html
    assert not Profile.objects.filter(user=personas["supervisor"], language="zh-hant").exists()


@pytest.mark.django_db
def test_the_review_queue_is_in_chinese_for_a_cataloguer_who_chose_it(client_for):
    client = client_for("cataloguer")
    assert "<h1>Review queue</h1>" in page(client, "review-queue")

    choose(client, "zh-hant")

    html = page(client, "review-queue")
    assert "<h1>審閱隊列</h1>" in html and "<h1>Review queue</h1>" not in html
    assert "0 個影像對等待決定。" in html and "開始審閱" in html


@pytest.mark.django_db
def test_choosing_english_again_switches_back_even_for_a_chinese_browser(client_for, personas):
    client = client_for("cataloguer")
    choose(client, "zh-hant")
    choose(client, "en")

    assert Profile.objects.get(user=personas["cataloguer"]).language == "en"
    assert EN_HEADING in page(log_in("cataloguer"), headers={"Accept-Language": "zh-Hant"})


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fr", "zh-cn", "zh_Hant", "zh_Hans", "", "../../etc/passwd"])
def test_unknown_languages_are_refused(client_for, personas, language):
    client = client_for("cataloguer")

    response = choose(client, language)

    assert response.status_code == 400
    assert not Profile.objects.filter(user=personas["cataloguer"]).exists()
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert EN_HEADING in page(client)


@pytest.mark.django_db
def test_the_language_choice_needs_a_post(client_for):
    response = client_for("cataloguer").get(reverse("catalogue-set-language"), {"language": "zh-hant"})

    assert response.status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "http://evil.example/collections/", "https:evil.example"],
)
def test_the_language_choice_does_not_redirect_to_another_host(client_for, target):
    response = choose(client_for("cataloguer"), "zh-hant", next_url=target)

    assert response.status_code == 302
    assert "evil.example" not in response["Location"]
    assert response["Location"] == reverse("catalogue-collections")


@pytest.mark.django_db
def test_an_anonymous_visitor_can_choose_a_language_for_the_login_page(client):
    response = choose(client, "zh-hant", next_url=reverse("login"))

    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hant"
    assert "用戶名稱" in page(client, "login")
    assert not Profile.objects.exists()


def _upload_with_manifest(client, collection, manifest, encoding=""):
    # The request stages the upload; the import runs once it commits (a worker in life).
    with TestCase.captureOnCommitCallbacks(execute=True):
        return _post_upload(client, collection, manifest, encoding)


def _post_upload(client, collection, manifest, encoding):
    return client.post(
        reverse("catalogue-upload", args=[collection.pk]),
        {
            "files": [
                SimpleUploadedFile("harbour.jpg", jpeg_bytes(color=(20, 60, 120))),
                SimpleUploadedFile("street.jpg", jpeg_bytes(color=(120, 60, 20))),
            ],
            "manifest": SimpleUploadedFile("manifest.csv", manifest),
            "manifest_encoding": encoding,
        },
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoding", "chosen"), [("utf-8-sig", ""), ("big5hkscs", ""), ("big5hkscs", "big5hkscs")]
)
def test_chinese_metadata_is_displayed_and_found_by_search(client_for, collection, encoding, chosen):
    manifest = (
        "filename,catalogue_number,title,creator,date,credit_line\n"
        "harbour.jpg,HK-1956-001,維多利亞港晨曦,何藩,1956年,香港歷史檔案館\n"
        "street.jpg,HK-1957-002,中環街市,邵逸夫,1957年,\n"
    ).encode(encoding)
    client = client_for("administrator")

    response = _upload_with_manifest(client, collection, manifest, chosen)

    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and batch.stored == 2
    record = CatalogueRecord.objects.get(catalogue_number="HK-1956-001")
    assert (record.title, record.creator, record.credit_line) == ("維多利亞港晨曦", "何藩", "香港歷史檔案館")

    detail = client.get(record.get_absolute_url()).content.decode()
    for text in ("維多利亞港晨曦", "何藩", "1956年", "香港歷史檔案館"):
        assert text in detail

    by_title = page(client, "catalogue-search", data={"q": "維多利亞港"})
    assert "HK-1956-001" in by_title and "維多利亞港晨曦" in by_title
    assert "HK-1957-002" not in by_title
    by_creator = page(client, "catalogue-search", data={"q": " 何藩 "})
    assert "HK-1956-001" in by_creator and "HK-1957-002" not in by_creator
    assert "HK-1957-002" in page(client, "catalogue-search", data={"q": "街市"})
    nothing = page(client, "catalogue-search", data={"q": "九龍城寨"})
    assert "No records match." in nothing and "HK-19" not in nothing


@pytest.mark.django_db
def test_the_chinese_ui_shows_chinese_metadata_and_translated_labels(client_for, collection):
    client = client_for("administrator")
    manifest = "filename,catalogue_number,title,creator\nharbour.jpg,HK-001,維多利亞港,何藩\n".encode()
    _upload_with_manifest(client, collection, manifest)
    choose(client, "zh-hant")

    record = CatalogueRecord.objects.get(catalogue_number="HK-001")
    detail = client.get(record.get_absolute_url()).content.decode()
    assert "<dt>創作者</dt><dd>何藩</dd>" in detail and "維多利亞港" in detail
    results = page(client, "catalogue-search", data={"q": "維多利亞港"})
    assert "HK-001" in results and "<th>題名</th>" in results and "有效" in results
    batch_page = client.get(ImportBatch.objects.get().get_absolute_url()).content.decode()
    assert "已儲存 2 個，已略過 0 個，已拒絕 0 個。" in batch_page
