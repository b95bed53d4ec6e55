"""Supervisor pages and exports through HTTP, and the role boundaries around them."""

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from review import services
from review.models import Decision
from tests.test_audit_chain import make_pairs

pytestmark = pytest.mark.django_db
PREMIS = "{http://www.loc.gov/premis/v3}"
PAGES = [
    ("review-supervisor-decisions", "get"),
    ("review-supervisor-figures", "get"),
    ("review-supervisor-charts", "get"),
    ("review-supervisor-audit", "get"),
    ("review-supervisor-exports", "get"),
    ("review-supervisor-export-mapping", "get"),
    ("review-supervisor-export-exact", "get"),
    ("review-supervisor-export-premis", "get"),
    ("review-supervisor-revert-period", "post"),
]


@pytest.fixture
def decided(collection, personas):
    pairs = make_pairs(collection, 6)
    cataloguer = personas["cataloguer"]
    pairs[5].relation, pairs[5].same_bytes = "pixel-identical+format-changed", False
    pairs[5].save()
    services.decide_duplicate(pairs[0], pairs[0].image_a.record, actor=cataloguer)
    services.decide(pairs[1], Decision.Kind.RELATED, actor=cataloguer)
    services.decide(pairs[2], Decision.Kind.DISTINCT, actor=cataloguer)
    services.decide(pairs[3], Decision.Kind.ESCALATE, actor=cataloguer)
    services.decide_duplicate(pairs[5], pairs[5].image_b.record, automatic=True, reason="pixel-identical")
    return pairs


def content(response):
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.mark.parametrize(("name", "method"), PAGES)
def test_a_cataloguer_is_refused(client_for, name, method):
    response = getattr(client_for("cataloguer"), method)(reverse(name))
    assert response.status_code == 403


def test_a_cataloguer_cannot_revert(client_for, decided):
    decision = Decision.objects.first()
    response = client_for("cataloguer").post(reverse("review-supervisor-revert", args=[decision.pk]))
    assert response.status_code == 403
    assert not decision.corrections.exists()


@pytest.mark.parametrize(("name", "method"), PAGES)
def test_anonymous_is_sent_to_login(client, db, name, method):
    response = getattr(client, method)(reverse(name))
    assert response.status_code == 302 and "/login/" in response.url


@pytest.mark.parametrize(("name", "method"), [p for p in PAGES if p[1] == "get"])
def test_a_supervisor_can_open(client_for, decided, name, method):
    assert client_for("supervisor").get(reverse(name)).status_code == 200


def test_a_supervisor_cannot_change_users_or_thresholds(client_for, collection, personas):
    client = client_for("supervisor")
    assert client.get(reverse("admin:auth_user_change", args=[personas["cataloguer"].pk])).status_code in (
        302,
        403,
    )
    response = client.post(reverse("dedup-collection-policy", args=[collection.pk]), {})
    assert response.status_code == 403


def test_the_nav_shows_supervision_to_supervisors_only(client_for, db):
    url = reverse("review-supervisor-decisions")
    assert url in client_for("supervisor").get(reverse("review-queue")).content.decode()
    assert url not in client_for("cataloguer").get(reverse("review-queue")).content.decode()


def test_the_list_filters_by_kind_cataloguer_and_band(client_for, decided, personas):
    client = client_for("supervisor")
    url = reverse("review-supervisor-decisions")

    page = client.get(url, {"kind": "related"}).content.decode()
    assert page.count("data-decision=") == 1
    page = client.get(url, {"cataloguer": "system"}).content.decode()
    assert page.count("data-decision=") == 1
    page = client.get(url, {"cataloguer": personas["cataloguer"].pk}).content.decode()
    assert page.count("data-decision=") == 4
    page = client.get(url, {"band": "weak"}).content.decode()  # score 0.5 + n/10: only pair 0 is < 0.5? none
    assert page.count("data-decision=") == 0
    page = client.get(url, {"band": "fair"}).content.decode()
    assert page.count("data-decision=") == 3


def test_the_list_finds_a_record_s_decisions_by_catalogue_number(client_for, decided):
    client = client_for("supervisor")
    url = reverse("review-supervisor-decisions")
    superseded = decided[0].image_b.record

    page = client.get(url, {"number": superseded.catalogue_number.lower()}).content.decode()

    assert page.count("data-decision=") == 1 and f'data-decision="{decided[0].decisions.get().pk}"' in page
    assert client.get(url, {"number": "no-such-number"}).content.decode().count("data-decision=") == 0


def test_the_list_is_a_fixed_number_of_queries(
    client_for, decided, collection, personas, django_assert_max_num_queries
):
    more = make_pairs(collection, 20, start=100)
    for pair in more:
        services.decide(pair, Decision.Kind.DISTINCT, actor=personas["cataloguer"])
    client = client_for("supervisor")
    # session, user, roles, filter choices, count, page, and the page's people, masters, superseded
    # records and collections read after it: the same for 25 rows as for one
    with django_assert_max_num_queries(18):
        response = client.get(reverse("review-supervisor-decisions"))
    assert content(response).count("data-decision=") == 25


def test_figures_show_the_mix_and_the_overturn_rate(client_for, decided, personas):
    client = client_for("supervisor")
    client.post(reverse("review-supervisor-revert", args=[Decision.objects.get(kind="related").pk]))

    page = client.get(reverse("review-supervisor-figures")).content.decode()

    assert 'data-cataloguer="cataloguer"' in page
    assert "25%" in page  # one of four decisions reverted


def test_charts_carry_their_data_as_json(client_for, decided):
    page = client_for("supervisor").get(reverse("review-supervisor-charts")).content.decode()
    start = page.index('<script id="chart-data" type="application/json">') + len(
        '<script id="chart-data" type="application/json">'
    )
    data = json.loads(page[start : page.index("</script>", start)])
    duplicates = next(s for s in data["over_time"] if s["kind"] == "duplicate")
    assert sum(duplicates["counts"]) == 2
    assert "vendor/chartjs/chart.umd.min.js" in page


def test_the_mapping_export_lists_old_numbers_and_masters(client_for, decided):
    pair = decided[0]
    rows = list(
        csv.DictReader(
            io.StringIO(
                content(
                    client_for("supervisor").get(
                        reverse("review-supervisor-export-mapping"), {"format": "csv"}
                    )
                )
            )
        )
    )

    superseded = {r["catalogue_number"]: r for r in rows if r["relation"] == "superseded"}
    row = superseded[pair.image_b.record.catalogue_number]
    assert (row["target_number"], row["decided_by"], row["collection"]) == (
        pair.image_a.record.catalogue_number,
        "cataloguer",
        "Harbour Photographs",
    )
    assert [r["relation"] for r in rows].count("related") == 1
    data = json.loads(
        content(client_for("supervisor").get(reverse("review-supervisor-export-mapping"), {"format": "json"}))
    )
    assert len(data) == len(rows) == 3


def test_the_exact_duplicates_report_lists_identical_pairs(client_for, decided, collection):
    response = client_for("supervisor").get(
        reverse("review-supervisor-export-exact"), {"collection": collection.pk, "format": "json"}
    )
    rows = json.loads(content(response))
    assert [(r["duplicate_number"], r["master_number"], r["decided_by"]) for r in rows] == [
        (decided[5].image_a.record.catalogue_number, decided[5].image_b.record.catalogue_number, "system")
    ]


def test_premis_export_parses_with_one_event_per_decision(client_for, decided):
    response = client_for("supervisor").get(reverse("review-supervisor-export-premis"))

    root = ET.fromstring(content(response).encode())  # noqa: S314 (our own export, in a test)
    events = root.findall(f"{PREMIS}event")
    assert root.tag == f"{PREMIS}premis"
    assert len(events) == Decision.objects.count() == 5
    first = events[0]
    for child in (
        "eventIdentifier",
        "eventType",
        "eventDateTime",
        "eventDetailInformation",
        "eventOutcomeInformation",
        "linkingAgentIdentifier",
        "linkingObjectIdentifier",
    ):
        assert first.find(f"{PREMIS}{child}") is not None, child
    agents = [
        e.find(f"{PREMIS}linkingAgentIdentifier/{PREMIS}linkingAgentIdentifierValue").text for e in events
    ]
    assert agents.count("system") == 1


def test_the_audit_page_checks_the_chain(client_for, decided):
    page = client_for("supervisor").get(reverse("review-supervisor-audit"), {"verify": 1}).content.decode()
    assert "The chain is intact." in page


def test_a_revert_never_redirects_off_site(client_for, decided):
    decision = Decision.objects.filter(kind="related").get()
    response = client_for("supervisor").post(
        reverse("review-supervisor-revert", args=[decision.pk]), {"next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response.url == reverse("review-supervisor-decisions")
    assert decision.corrections.exists()
