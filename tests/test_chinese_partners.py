"""A Mainland partner's library merged with ours: partner numbers kept, the partner mapping export
(pages and API, CSV and JSON, both directions) and reference collections, through HTTP and commands."""

import csv
import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from catalogue.models import CatalogueRecord, Collection
from dedup.models import CandidatePair
from review.models import Decision, ReviewItem
from review.partners import INVERSE
from tests.test_review_corpus import add_image, encode, make_pair, picture

pytestmark = pytest.mark.django_db
PARTNER = "广东省立中山图书馆"


@pytest.fixture
def merge(db):
    """Our reference archive, a second collection of ours, and the partner's library; pairs across."""
    ours = Collection.objects.create(name="香港歷史檔案館", institution="香港歷史檔案館", reference=True)
    hku = Collection.objects.create(name="香港大學圖書館", institution="香港大學")
    theirs = Collection.objects.create(name="中山图书馆（合作）", institution=PARTNER, partner=PARTNER)

    def pair(seed, left, right):
        a = add_image(left[0], left[1], encode(picture(seed), "TIFF"), title=left[2])
        smaller = encode(picture(seed).resize((320, 240)), quality=70)
        b = add_image(right[0], right[1], smaller, title=right[2])
        return ReviewItem.objects.get(pair=make_pair(a, b, score=0.9))

    items = {
        "hall": pair(
            1, (ours, "HK-1962-001", "香港大會堂落成典禮"), (theirs, "GD-0001", "香港大会堂落成典礼")
        ),
        # The same number in both libraries, for a different photograph of the same event.
        "same-number": pair(
            2, (ours, "HK-1957-002", "九龍城寨"), (theirs, "HK-1957-002", "九龙城寨")
        ),
        "refused": pair(3, (ours, "HK-1960-003", "中環街市"), (theirs, "GD-0003", "中环街市")),
        "theirs-master": pair(4, (hku, "HKU-77", "沙面街景"), (theirs, "GD-0005", "沙面街景")),
    }
    add_image(theirs, "GD-0004", encode(picture(5)), title="珠江夜景")
    return {"ours": ours, "hku": hku, "theirs": theirs, "items": items}


def decide(client, item, decision):
    client.post(reverse("review-claim", args=[item.pk]))
    return client.post(reverse("review-decide", args=[item.pk]), {"decision": decision}, follow=True)


@pytest.fixture
def decided(merge, client_for):
    client = client_for("cataloguer")
    items = merge["items"]
    decide(client, items["hall"], "keep-left")
    decide(client, items["same-number"], "related")
    merge["refusal"] = decide(client, items["refused"], "keep-right").content.decode()
    decide(client, items["theirs-master"], "keep-right")
    return merge


def table(response):
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def export(client, collection, **params):
    return client.get(reverse("review-supervisor-export-partner", args=[collection.pk]), params)


def test_the_partner_records_keep_the_partners_numbers_even_where_ours_are_the_same(merge):
    numbers = CatalogueRecord.objects.filter(catalogue_number="HK-1957-002")

    assert {r.collection.name for r in numbers} == {"香港歷史檔案館", "中山图书馆（合作）"}


def test_a_reference_record_is_never_superseded_by_a_partner_record(decided):
    refused = CatalogueRecord.objects.get(catalogue_number="HK-1960-003")

    assert refused.status == "active" and refused.master is None
    assert "reference collection" in decided["refusal"] and "HK-1960-003" in decided["refusal"]
    assert not Decision.objects.filter(pair=decided["items"]["refused"].pair, kind="duplicate").exists()
    hall = CatalogueRecord.objects.get(catalogue_number="GD-0001")
    assert hall.master.catalogue_number == "HK-1962-001"  # the other way round is allowed


def test_the_review_screen_suggests_the_reference_record_as_master(merge, client_for):
    item = merge["items"]["refused"]

    html = client_for("cataloguer").get(reverse("review-item", args=[item.pk])).content.decode()

    assert "the reference collection&#x27;s record (香港歷史檔案館)" in html
    assert "Duplicate: keep left as master" in html  # left is ours, though right is not smaller


def test_the_partner_mapping_gives_every_partner_number_with_our_master_and_the_decision(decided, client_for):
    client = client_for("supervisor")

    rows = export(client, decided["theirs"], format="json").json()

    got = [(r["partner_number"], r["relation"], r["our_number"], r["our_collection"]) for r in rows]
    assert got == [
        ("GD-0001", "superseded by", "HK-1962-001", "香港歷史檔案館"),
        ("GD-0003", "", "", ""),
        ("GD-0004", "", "", ""),
        ("GD-0005", "master of", "HKU-77", "香港大學圖書館"),
        ("HK-1957-002", "related to", "HK-1957-002", "香港歷史檔案館"),
    ]
    hall = rows[0]
    decision = Decision.objects.get(pk=hall["decision"])
    who = (hall["decision_kind"], hall["decided_by"], hall["partner"])
    assert who == ("duplicate", "cataloguer", PARTNER)
    assert decision.superseded.catalogue_number == "GD-0001"
    assert hall["decided_at"] == decision.created_at.isoformat()
    assert rows[4]["decision_kind"] == "related" and rows[1]["decision"] == ""


def test_the_mapping_round_trips_between_csv_json_and_the_reverse_direction(decided, client_for):
    client = client_for("supervisor")
    theirs = decided["theirs"]

    as_json = export(client, theirs, format="json").json()
    as_csv = table(export(client, theirs))
    ours = export(client, theirs, side="ours", format="json").json()
    ours_csv = table(export(client, theirs, side="ours"))

    assert as_csv == [{k: str(v) for k, v in row.items()} for row in as_json]
    assert ours_csv == [{k: str(v) for k, v in row.items()} for row in ours]
    forward = {(r["partner_number"], r["our_number"], r["relation"], r["decision"]) for r in as_json}
    backward = {(r["partner_number"], r["our_number"], INVERSE[r["relation"]], r["decision"]) for r in ours}
    forward = {row for row in forward if row[1]}
    assert forward == backward and len(ours) == 3
    assert [(r["our_collection"], r["our_number"], r["relation"]) for r in ours] == [
        ("香港大學圖書館", "HKU-77", "superseded by"),
        ("香港歷史檔案館", "HK-1957-002", "related to"),
        ("香港歷史檔案館", "HK-1962-001", "master of"),
    ]


def test_the_api_serves_the_same_mapping_to_supervisors_only(decided, client_for):
    theirs = decided["theirs"]
    url = reverse("api-export-partner", args=[theirs.pk])
    page = export(client_for("supervisor"), theirs, format="json").json()

    assert client_for("supervisor").get(url, {"format": "json"}).json() == page
    assert client_for("cataloguer").get(url, {"format": "json"}).status_code == 403
    assert client_for("supervisor").get(url, {"format": "xml"}).status_code == 400
    not_partner = reverse("api-export-partner", args=[decided["ours"].pk])
    assert client_for("supervisor").get(not_partner, {"format": "json"}).status_code == 404


def test_the_exports_page_links_the_partner_mapping(decided, client_for):
    html = client_for("supervisor").get(reverse("review-supervisor-exports")).content.decode()

    assert reverse("review-supervisor-export-partner", args=[decided["theirs"].pk]) in html
    assert reverse("review-supervisor-export-partner", args=[decided["ours"].pk]) not in html


def test_an_exact_copy_across_the_border_is_settled_with_the_reference_record_as_master(photos, tmp_path):
    """The partner's copy was imported first (earliest accession), yet ours, the reference, is kept."""
    photo = next(p for p in photos if p.suffix == ".jpg" and p.stat().st_size > 100_000)
    header = "filename,catalogue_number,title,rights,credit_line\n"
    theirs = "scan.jpg,GD-0001,香港大会堂落成典礼,版权所有,何藩摄\n"
    ours = "scan.jpg,HK-1962-001,香港大會堂落成典禮,版權所有,何藩攝\n"
    sides = [("theirs", PARTNER, "", theirs, "gb18030"), ("ours", "香港歷史檔案館", "yes", ours, "big5hkscs")]
    for folder, name, reference, row, encoding in sides:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "scan.jpg").write_bytes(photo.read_bytes())
        (tmp_path / f"{folder}.csv").write_bytes((header + row).encode(encoding))
        Collection.objects.create(name=name, institution=name, reference=bool(reference))
        call_command(
            "import_collection", str(tmp_path / folder), collection=name,
            manifest=str(tmp_path / f"{folder}.csv"), no_progress=True, stdout=io.StringIO(),
        )
    Collection.objects.filter(name="香港歷史檔案館").update(institution=PARTNER)  # one owner: no guardrail

    call_command("find_duplicates", no_progress=True, stdout=io.StringIO())

    pair = CandidatePair.objects.get()
    assert pair.tier == "auto"
    assert "rights/licence are the same text in another script" in pair.tier_reason
    assert "credit lines are the same text in another script" in pair.tier_reason
    decision = Decision.objects.get(pair=pair)
    kept = (decision.master.catalogue_number, decision.superseded.catalogue_number)
    assert kept == ("HK-1962-001", "GD-0001")
    assert "the reference collection's record (香港歷史檔案館)" in decision.reason


def test_the_demo_builds_a_cross_border_merge(photos, settings, tmp_path, client_for):
    settings.DATA_DIR = tmp_path
    out = io.StringIO()

    call_command("demo", str(photos[0].parent), count=9, stdout=out, stderr=io.StringIO())
    call_command("find_duplicates", no_progress=True, stdout=io.StringIO())

    ours = Collection.objects.get(name="香港歷史檔案館（示範）")
    theirs = Collection.objects.get(name="广东省立中山图书馆（示范）")
    assert ours.reference and theirs.partner == PARTNER
    assert "manifest read as big5hkscs" in out.getvalue() and "manifest read as gbk" in out.getvalue()
    assert (tmp_path / "demo" / "guangdong.csv").read_bytes().decode("gb18030").count("GD-DEMO-") == 6
    first = theirs.records.get(catalogue_number="GD-DEMO-001")
    assert (first.title, first.rights) == ("香港大会堂落成典礼", "版权所有")
    found = CatalogueRecord.objects.filter(CatalogueRecord.matching("香港大會堂"))
    assert {"HK-DEMO-001", "GD-DEMO-001"} <= {r.catalogue_number for r in found}
    settled = Decision.objects.get(superseded__catalogue_number="GD-DEMO-001", master__collection=ours)
    assert "the same text in another script" in settled.reason
    held = CandidatePair.objects.get(
        image_a__record__catalogue_number="HK-DEMO-003", image_b__collection=theirs
    )
    assert held.tier == "review" and "credit lines differ" in held.tier_reason
    rows = export(client_for("supervisor"), theirs, format="json").json()
    assert {r["partner_number"] for r in rows} == {f"GD-DEMO-{n:03d}" for n in range(1, 7)}
