"""Mainland and Hong Kong manifest encodings, told apart by reading the whole file under each and
scoring the result, or refused by name; never stored garbled. Real catalogue text throughout."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import TestCase
from django.urls import reverse

from catalogue import manifest
from catalogue.models import CatalogueRecord, ImportBatch
from tests.conftest import jpeg_bytes

HEADER = "filename,catalogue_number,title,creator,date,rights,credit_line\n"
MAINLAND = HEADER + (
    "a.jpg,GD-1962-001,香港大会堂落成典礼,何藩,1962年,版权所有,广东省立中山图书馆藏\n"
    "b.jpg,GD-1957-002,广州沙面街景,佚名,1957年,版权所有,广东省立中山图书馆藏\n"
    "c.jpg,GD-1960-003,珠江夜景与海珠桥,佚名,1960年,仅供学术研究使用,\n"
)
HONG_KONG = HEADER + (
    "a.jpg,HK-1962-001,香港大會堂落成典禮,何藩,1962年,版權所有,香港歷史檔案館藏\n"
    "b.jpg,HK-1957-002,九龍城寨航拍,佚名,1957年,版權所有,香港歷史檔案館藏\n"
    "c.jpg,HK-1960-003,深水埗石硤尾邨嘅街坊,佚名,1960年,,\n"  # 嘅 is a Hong Kong (HKSCS) character
)
# GB18030 beyond GBK: Cantonese 㗎 and the Extension B character 𠮶 take four bytes each.
GB18030_ONLY = HEADER + "a.jpg,GD-1980-009,粤语俗字“㗎”与“𠮶”的写法,佚名,1980年,版权所有,\n"


def read(data, encoding=None):
    parsed = manifest.parse(data, encoding)
    return parsed.encoding, {row["catalogue_number"]: row["title"] for row in parsed.rows.values()}


def titles(text):
    return {line.split(",")[1]: line.split(",")[2] for line in text.splitlines()[1:]}


@pytest.mark.parametrize(
    ("text", "encoding", "detected"),
    [
        (MAINLAND, "utf-8", "utf-8"),
        (MAINLAND, "utf-8-sig", "utf-8"),
        (HONG_KONG, "utf-16", "utf-16"),
        (HONG_KONG, "utf-16-le", "utf-16"),  # no BOM
        (MAINLAND, "gbk", "gbk"),
        (MAINLAND, "gb18030", "gbk"),  # GBK's characters are the same two bytes in GB18030
        (GB18030_ONLY, "gb18030", "gb18030"),
        (HONG_KONG, "big5hkscs", "big5hkscs"),
    ],
)
def test_each_encoding_is_read_with_its_titles_intact(text, encoding, detected):
    assert read(text.encode(encoding)) == (detected, titles(text))


@pytest.mark.parametrize(
    ("text", "encoding", "other"),
    [
        ("a.jpg,GZ-001,渡轮码头,佚名\nb.jpg,GZ-002,茶楼,佚名\n", "gbk", "big5hkscs"),
        ("a.jpg,GZ-003,北京故宫,佚名\nb.jpg,GZ-004,南京路电车,佚名\n", "gbk", "big5hkscs"),
        ("a.jpg,HK-001,國家,佚名\nb.jpg,HK-002,渡輪,佚名\n", "big5hkscs", "gb18030"),
        ("a.jpg,HK-003,攝影,佚名\nb.jpg,HK-004,館藏,佚名\n", "big5hkscs", "gb18030"),
    ],
)
def test_text_that_is_valid_under_two_encodings_is_read_in_the_right_one(text, encoding, other):
    text = "filename,catalogue_number,title,creator\n" + text
    data = text.encode(encoding)
    garbled = data.decode(other)  # the other encoding accepts every byte: validity cannot decide

    detected, found = read(data)

    assert found == titles(text) and detected.startswith(encoding[:2])
    assert garbled != text


def test_a_short_gbk_file_that_is_also_valid_utf8_is_read_as_gbk():
    text = "filename,catalogue_number,title\na.jpg,GZ-1,学校\nb.jpg,GZ-2,医院\n"
    data = text.encode("gbk")
    assert data.decode("utf-8").splitlines()[1] == "a.jpg,GZ-1,ѧУ"  # what was stored before

    assert read(data) == ("gbk", titles(text))


@pytest.mark.parametrize("text", ["Café Müller", "Ελλάδα", "Санкт-Петербург", "北京故宫"])
def test_utf8_stays_utf8(text):
    data = f"filename,catalogue_number,title\na.jpg,1,{text}\n".encode()

    assert read(data) == ("utf-8", {"1": text})


def test_a_file_that_reads_as_chinese_in_both_is_refused_naming_both():
    data = "filename,catalogue_number,title\na.jpg,1,国家\n".encode("big5hkscs")

    with pytest.raises(manifest.ManifestError) as refused:
        manifest.parse(data)

    message = str(refused.value)
    assert "GBK" in message and "Big5-HKSCS" in message and "choose the encoding" in message
    assert read(data, "big5hkscs") == ("big5hkscs", {"1": "国家"})


def test_latin1_is_refused_rather_than_read_as_chinese():
    data = "filename,catalogue_number,title\na.jpg,1,Café Müller à Genève\n".encode("cp1252")

    with pytest.raises(manifest.ManifestError, match="not valid UTF-8 .* does not read as Chinese text"):
        manifest.parse(data)


@pytest.mark.parametrize("encoding", ["punycode", "idna", "rot13", "hex", "zlib", "no-such-codec"])
def test_an_encoding_that_is_not_a_csv_text_encoding_is_refused(encoding):
    with pytest.raises(manifest.ManifestError, match="manifest encoding"):
        manifest.parse(b"filename,catalogue_number\n\xe4.jpg,1\n", encoding)


# --- through the import command and the upload page ------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for i, name in enumerate("abc"):
        (root / f"{name}.jpg").write_bytes(jpeg_bytes(color=(40 * i, 90, 160)))
    return root


@pytest.mark.django_db
def test_a_gb18030_partner_manifest_imports_with_its_simplified_titles_intact(folder, tmp_path):
    path = tmp_path / "partner.csv"
    text = MAINLAND.replace(",珠江夜景", ",㗎珠江夜景")  # 㗎 takes GB18030's four-byte form
    path.write_bytes(text.encode("gb18030"))
    out = io.StringIO()

    call_command(
        "import_collection", str(folder), collection="广东省立中山图书馆", manifest=str(path),
        no_progress=True, stdout=out,
    )

    assert "manifest read as gb18030" in out.getvalue()
    found = dict(CatalogueRecord.objects.values_list("catalogue_number", "title"))
    assert found == {
        "GD-1962-001": "香港大会堂落成典礼",
        "GD-1957-002": "广州沙面街景",
        "GD-1960-003": "㗎珠江夜景与海珠桥",
    }
    record = CatalogueRecord.objects.get(catalogue_number="GD-1962-001")
    assert (record.rights, record.credit_line) == ("版权所有", "广东省立中山图书馆藏")


@pytest.mark.django_db
def test_the_command_refuses_an_ambiguous_manifest_and_imports_nothing(folder, tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes("filename,catalogue_number,title\na.jpg,1,国家\n".encode("big5hkscs"))

    with pytest.raises(CommandError, match="both in GBK and in Big5-HKSCS"):
        call_command("import_collection", str(folder), collection="X", manifest=str(path), no_progress=True)

    assert not CatalogueRecord.objects.exists()


def upload(client, collection, data, encoding=""):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            reverse("catalogue-upload", args=[collection.pk]),
            {
                "files": [SimpleUploadedFile("a.jpg", jpeg_bytes(color=(20, 60, 120)))],
                "manifest": SimpleUploadedFile("manifest.csv", data),
                "manifest_encoding": encoding,
            },
        )


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "big5hkscs"])
def test_the_upload_page_detects_mainland_and_hong_kong_manifests(client_for, collection, encoding):
    text = MAINLAND if encoding != "big5hkscs" else HONG_KONG

    response = upload(client_for("administrator"), collection, text.encode(encoding))

    assert response.status_code == 302
    assert ImportBatch.objects.get().stored == 1
    record = CatalogueRecord.objects.get()
    assert record.title == titles(text)[record.catalogue_number]


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["punycode", "rot13"])
def test_the_upload_page_refuses_a_nonsense_encoding_without_a_server_error(client_for, collection, encoding):
    response = upload(client_for("administrator"), collection, MAINLAND.encode("utf-8"), encoding)

    assert response.status_code in (200, 400)
    assert "not a text encoding used for CSV files" in response.content.decode()
    assert not CatalogueRecord.objects.exists()
