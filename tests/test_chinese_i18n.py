"""The Simplified Chinese (zh-Hans) interface: chosen per user like the others, and complete: every
message of the catalogue really translated (none empty, fuzzy or left in English), in Simplified
characters, and the compiled .mo the one the .po says."""

import gettext
import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from catalogue import scripts
from catalogue.models import Profile

LOCALE = settings.BASE_DIR / "locale"
PASSWORD = "correct horse battery staple"
# Entries whose translation is the same text: names and figures.
UNTRANSLATABLE = {
    "REST API", "Mastercopy", "DPI", "0.75 – 0.90", "0.50 – 0.75", "%(old)s → %(new)s",
    # the joiners of relation names and of a pair sentence's parts (＋, ，, 。)
    " + ",
    ", ",
    "%(head)s, %(details)s; %(colour)s.",
    "; ",
}
HAN = re.compile(r"[\u3400-\u9fff]")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdf]|%\(\w+\)\.\d+f|\{\{ *\w+ *\}\}")


def catalogue(language):
    """The .po file's messages as (msgid, msgid_plural, [msgstr...], flags, obsolete), header left out."""
    path = LOCALE / language / "LC_MESSAGES" / "django.po"
    entries, current, key, flags = [], None, None, set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#~"):
            entries.append({"msgid": "~", "obsolete": True})
        elif line.startswith("#,"):
            flags = {flag.strip() for flag in line[2:].split(",")}
        elif match := re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d+\])?) "(.*)"$', line):
            key, text = match.groups()
            if key == "msgid":
                current, flags = {"flags": flags}, set()
                entries.append(current)
            current[key] = text
        elif line.startswith('"') and current is not None:
            current[key] += line[1:-1]
    return [
        (
            e["msgid"],
            e.get("msgid_plural", ""),
            [v for k, v in sorted(e.items()) if k.startswith("msgstr")],
            e.get("flags", set()),
            e.get("obsolete", False),
        )
        for e in entries
        if e["msgid"]
    ]


def unescape(text):
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


@pytest.mark.parametrize("language", ["zh_Hans", "zh_Hant"])
def test_every_message_has_a_real_translation(language):
    entries = catalogue(language)

    assert len(entries) > 500
    assert not [e for e in entries if e[4]], "obsolete entries left in the catalogue"
    assert not [e[0] for e in entries if "fuzzy" in e[3]], "fuzzy entries"
    assert not [e[0] for e in entries if not all(e[2])], "empty translations"
    english = [e[0] for e in entries if e[0] not in UNTRANSLATABLE and not any(HAN.search(s) for s in e[2])]
    assert not english, f"left in English: {english[:5]}"


def test_the_simplified_catalogue_is_written_in_simplified_characters():
    traditional = [s for e in catalogue("zh_Hans") for s in e[2] if scripts.fold(s) != scripts.plain(s)]

    assert not traditional, f"Traditional characters in zh-Hans: {traditional[:5]}"


def test_every_translation_keeps_the_placeholders_of_its_message():
    for msgid, plural, strs, _flags, _obsolete in catalogue("zh_Hans"):
        wanted = sorted(PLACEHOLDER.findall(plural or msgid))
        for text in strs:
            assert sorted(PLACEHOLDER.findall(text)) == wanted, (msgid, text)


def test_both_chinese_catalogues_have_the_same_messages():
    # After a new string: manage.py makemessages -l zh_Hant -l zh_Hans, translate both, compilemessages.
    hant = {e[0] for e in catalogue("zh_Hant")}
    hans = {e[0] for e in catalogue("zh_Hans")}

    assert hant == hans


@pytest.mark.parametrize("language", ["zh_Hans", "zh_Hant"])
def test_the_compiled_catalogue_is_the_po_file(language):
    mo = LOCALE / language / "LC_MESSAGES" / "django.mo"
    with mo.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for msgid, plural, strs, _flags, _obsolete in catalogue(language):
        if plural:
            assert compiled.ngettext(unescape(msgid), unescape(plural), 2) == unescape(strs[0])
        else:
            assert compiled.gettext(unescape(msgid)) == unescape(strs[0]), msgid


def page(client, name="catalogue-collections", **kwargs):
    response = client.get(reverse(name), **kwargs)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_a_user_who_chooses_simplified_chinese_keeps_it_across_logins(client_for, personas):
    client = client_for("cataloguer")

    response = client.post(reverse("catalogue-set-language"), {"language": "zh-hans"})

    assert response.status_code == 302
    assert Profile.objects.get(user=personas["cataloguer"]).language == "zh-hans"
    html = page(client)
    assert '<html lang="zh-hans">' in html
    assert "<h1>馆藏</h1>" in html and "搜索编目记录" in html and "退出登录" in html
    assert "搜尋編目紀錄" not in html and "Search records" not in html
    assert "<h1>审阅队列</h1>" in page(client, "review-queue")
    assert "编目号、题名或创作者" in page(client, "catalogue-search")
    again = Client()
    again.post(reverse("login"), {"username": "cataloguer", "password": PASSWORD})
    assert "<h1>馆藏</h1>" in page(again, headers={"Accept-Language": "en"})


@pytest.mark.django_db
def test_the_language_switcher_offers_all_three(client_for):
    html = page(client_for("supervisor"))

    for code, name in (("en", "English"), ("zh-hant", "繁體中文"), ("zh-hans", "简体中文")):
        assert f'<option value="{code}"' in html and name in html


@pytest.mark.django_db
def test_a_mainland_browser_gets_simplified_and_a_hong_kong_one_traditional(client):
    assert "用户名" in page(client, "login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "用戶名稱" in page(Client(), "login", headers={"Accept-Language": "zh-HK"})
    assert "用户名" in page(Client(), "login", headers={"Accept-Language": "zh-Hans"})
