"""Simplified and Traditional Chinese as one text: search on the page and in the API, the rights and
credit-line guardrails, and the pair screen's metadata comparison, with real titles and statements."""

import importlib

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalogue import scripts
from catalogue.models import CatalogueRecord, Collection
from dedup.tiers import PairFacts, classify, rights_differences

# (Traditional / Hong Kong form, Simplified form) of real catalogue text.
SAME_TEXT = [
    ("香港大會堂", "香港大会堂"),
    ("版權所有", "版权所有"),
    ("香港歷史檔案館藏", "香港历史档案馆藏"),
    ("九龍城寨航拍", "九龙城寨航拍"),
    ("深水埗石硤尾邨", "深水埗石硖尾邨"),
    ("中環街市", "中环街市"),
    ("電車經過銅鑼灣", "电车经过铜锣湾"),
    ("綫", "线"),  # the Hong Kong variant of 線
    ("台灣", "臺灣"),  # two Traditional forms: both are 台湾
]


def facts(**overrides):
    return PairFacts(**{"same_bytes": True, "pixel_identical": True, "different": False, **overrides})


@pytest.mark.parametrize(("traditional", "simplified"), SAME_TEXT)
def test_a_text_and_its_other_script_fold_to_one_text(traditional, simplified):
    assert scripts.fold(traditional) == scripts.fold(simplified)
    assert scripts.compare(traditional, simplified) == scripts.SCRIPT
    assert scripts.compare(traditional, " " + traditional) == scripts.SAME


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("版權所有", "版權所有，僅供學術研究使用"),
        ("版权所有", "CC BY 4.0"),
        ("香港大會堂", "香港大球場"),
        ("乾隆年間", "干隆年间"),  # 乾隆 is a name: it stays 乾隆 in Simplified too
    ],
)
def test_a_real_difference_stays_a_difference(one, other):
    assert scripts.compare(one, other) == scripts.DIFFERENT


def test_full_width_letters_and_case_fold_too():
    assert scripts.fold("ＨＫ－１９６２") == scripts.fold("hk-1962")


def test_rights_that_differ_only_in_script_are_settled_and_the_reason_says_so():
    rights = ("版權所有 香港歷史檔案館", "版权所有 香港历史档案馆")
    result = classify(facts(rights=rights, credit_lines=("何藩攝", "何藩摄")))

    assert (result.tier, result.settle) == ("auto", True)
    assert "rights/licence are the same text in another script" in result.reason
    assert "credit lines are the same text in another script" in result.reason
    assert rights_differences(("版權所有", "版权所有"), ("", ""), ("", "")) == []


def test_a_real_difference_in_rights_still_holds_an_exact_copy_for_a_person():
    rights = ("版權所有", "版权所有，仅供学术研究使用")
    result = classify(facts(rights=rights, credit_lines=("何藩攝", "何藩摄")))

    assert (result.tier, result.settle) == ("review", False)
    assert "the records' rights/licence differ" in result.reason
    assert "credit lines are the same text in another script" in result.reason


def test_owners_named_in_two_scripts_are_one_owner():
    same = classify(facts(owners=("香港歷史檔案館", "香港历史档案馆")))
    other = classify(facts(owners=("香港歷史檔案館", "广东省档案馆")))

    assert same.tier == "auto" and "owners are the same name in another script" in same.reason
    assert other.tier == "review" and "different owners" in other.reason


# --- search --------------------------------------------------------------------------------------------


@pytest.fixture
def both_sides(db):
    """Our Hong Kong catalogue in Traditional, a Mainland partner's in Simplified, several rows each."""
    ours = Collection.objects.create(name="香港歷史檔案館", institution="香港歷史檔案館")
    theirs = Collection.objects.create(name="广东省立中山图书馆", institution="广东省立中山图书馆")
    rows = [
        (ours, "HK-1962-001", "香港大會堂落成典禮", "何藩"),
        (ours, "HK-1962-002", "香港大會堂音樂廳", "何藩"),
        (ours, "HK-1957-003", "九龍城寨航拍", "邵逸夫"),
        (ours, "HK-1960-004", "圖書館閱覽室", ""),
        (theirs, "GD-0001", "香港大会堂落成典礼", "何藩"),
        (theirs, "GD-0002", "广州图书馆旧址", "佚名"),
        (theirs, "GD-0003", "沙面街景", "佚名"),
    ]
    for collection, number, title, creator in rows:
        CatalogueRecord.objects.create(
            collection=collection, catalogue_number=number, title=title, creator=creator
        )


def found(client, query):
    html = client.get(reverse("catalogue-search"), {"q": query}).content.decode()
    return {n for n in CatalogueRecord.objects.values_list("catalogue_number", flat=True) if n in html}


def api_found(client, query):
    response = client.get("/api/records/", {"q": query})
    assert response.status_code == 200
    body = response.json()
    return {row["catalogue_number"] for row in body.get("results", body)}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("香港大會堂", {"HK-1962-001", "HK-1962-002", "GD-0001"}),  # Traditional
        ("香港大会堂", {"HK-1962-001", "HK-1962-002", "GD-0001"}),  # Simplified
        ("落成典礼", {"HK-1962-001", "GD-0001"}),
        ("图书馆", {"HK-1960-004", "GD-0002"}),
        ("圖書館", {"HK-1960-004", "GD-0002"}),
        ("九龙城寨", {"HK-1957-003"}),
        ("佚名", {"GD-0002", "GD-0003"}),
        ("hk-1962", {"HK-1962-001", "HK-1962-002"}),
        ("ＧＤ－０００３", {"GD-0003"}),  # full-width, as typed with a Chinese input method
        ("大球場", set()),
    ],
)
def test_search_finds_both_sides_whatever_the_script_of_the_query(client_for, both_sides, query, expected):
    client = client_for("cataloguer")

    assert found(client, query) == expected
    assert api_found(client, query) == expected


def test_search_compares_a_stored_column_and_converts_no_row_at_query_time(client_for, both_sides):
    client = client_for("cataloguer")

    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("catalogue-search"), {"q": "圖書館"})

    searched = [q["sql"] for q in queries if "search_text" in q["sql"]]
    assert searched and all("图书馆" in sql or "%s" in sql for sql in searched)
    record = CatalogueRecord.objects.get(catalogue_number="HK-1960-004")
    assert record.search_text == "hk-1960-004\n图书馆阅览室\n"


def test_editing_a_title_refreshes_the_search_column(client_for, both_sides):
    record = CatalogueRecord.objects.get(catalogue_number="GD-0003")
    record.title = "沙面街景（一九三〇年代）"
    record.save(update_fields=["title"])
    client = client_for("cataloguer")

    assert found(client, "一九三〇年代") == {"GD-0003"}
    assert found(client, "沙面街景") == {"GD-0003"}


@pytest.mark.django_db
def test_the_migration_fills_the_column_for_records_that_existed_before(both_sides):
    from django.apps import apps

    migration = importlib.import_module("catalogue.migrations.0006_partner_reference_search_text")
    CatalogueRecord.objects.update(search_text="")

    migration.fill_search_text(apps, None)

    texts = dict(CatalogueRecord.objects.values_list("catalogue_number", "search_text"))
    assert texts["HK-1962-001"] == "hk-1962-001\n香港大会堂落成典礼\n何藩"
    assert texts["GD-0001"] == "gd-0001\n香港大会堂落成典礼\n何藩"
    assert texts["HK-1960-004"] == "hk-1960-004\n图书馆阅览室\n"


@pytest.mark.django_db
def test_on_postgresql_the_search_uses_the_trigram_index(on_postgres, both_sides):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'catalogue_record_search_trgm'"
        )
        (definition,) = cursor.fetchone()
        assert "gin" in definition and "gin_trgm_ops" in definition
        # Only what can serve the LIKE: a GIN index is read by a bitmap scan, so plain index scans (of
        # other indexes, for the ordering) are switched off with the sequential scan.
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_indexscan = off")
        query = CatalogueRecord.objects.filter(CatalogueRecord.matching("香港大會堂")).query
        sql, params = query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "catalogue_record_search_trgm" in plan


# --- the pair screen's metadata comparison -------------------------------------------------------------


@pytest.fixture
def cross_border_pair(photos, tmp_path):
    """One photograph in our archive (Traditional metadata) and in a partner's library (Simplified),
    with the partner's credit line really different."""
    photo = next(p for p in photos if p.suffix == ".jpg" and p.stat().st_size > 100_000)
    for side, row in (
        ("ours", "filename,catalogue_number,title,creator,rights,credit_line\n"
                 "scan.jpg,HK-1962-001,香港大會堂落成典禮,何藩,版權所有,香港歷史檔案館藏\n"),
        ("theirs", "filename,catalogue_number,title,creator,rights,credit_line\n"
                   "scan.jpg,GD-0001,香港大会堂落成典礼,何藩,版权所有,广东省立中山图书馆藏\n"),
    ):
        folder = tmp_path / side
        folder.mkdir()
        (folder / "scan.jpg").write_bytes(photo.read_bytes())
        (tmp_path / f"{side}.csv").write_text(row, encoding="utf-8")
    Collection.objects.create(name="Ours", institution="香港歷史檔案館")
    Collection.objects.create(name="Theirs", institution="香港历史档案馆")
    for side, name in (("ours", "Ours"), ("theirs", "Theirs")):
        call_command(
            "import_collection", str(tmp_path / side), collection=name,
            manifest=str(tmp_path / f"{side}.csv"), no_progress=True,
        )
    call_command("find_duplicates", no_progress=True)
    from dedup.models import CandidatePair

    return CandidatePair.objects.get()


@pytest.mark.django_db
def test_a_byte_identical_pair_whose_credit_lines_really_differ_waits_for_a_person(cross_border_pair):
    pair = cross_border_pair

    assert pair.tier == "review"
    assert "credit lines differ" in pair.tier_reason
    assert "rights/licence are the same text in another script" in pair.tier_reason
    assert "owners are the same name in another script" in pair.tier_reason


@pytest.mark.django_db
def test_the_metadata_table_shows_a_script_only_difference_as_the_same_text(client_for, cross_border_pair):
    from review.models import ReviewItem

    item = ReviewItem.objects.get(pair=cross_border_pair)
    html = client_for("cataloguer").get(reverse("review-item", args=[item.pk])).content.decode()

    rows = {row.split("</th>")[0]: row for row in html.split('<tr class="')[1:] if "<th>" in row}
    assert rows['script"><th>Title'].count("the same text in another script") == 1
    assert 'script"><th>Rights / licence' in rows
    assert 'differs"><th>Credit line' in rows  # 香港歷史檔案館藏 / 广东省立中山图书馆藏
    assert 'differs"><th>Catalogue number' in rows
    assert 'script"><th>Creator' not in rows and '"><th>Creator' in rows  # 何藩 on both sides
