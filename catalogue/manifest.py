"""CSV manifests: file name → catalogue fields. No Django imports.

A manifest that cannot be read as a whole (encoding, missing columns) is refused before any file is
imported, because importing files without their catalogue numbers cannot be repaired by re-running
(imports are idempotent by path). Problems confined to one row are reported and the row is skipped.
"""

import codecs
import contextlib
import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from . import scripts

# Column name (normalised) → record field. Anything else goes into the record's metadata.
ALIASES = {
    "filename": "filename",
    "file": "filename",
    "file_name": "filename",
    "path": "filename",
    "catalogue_number": "catalogue_number",
    "catalog_number": "catalogue_number",
    "catalogue_no": "catalogue_number",
    "catalog_no": "catalogue_number",
    "object_number": "catalogue_number",
    "accession_number": "catalogue_number",
    "title": "title",
    "creator": "creator",
    "photographer": "creator",
    "date": "date_text",
    "rights": "rights",
    "licence": "rights",
    "license": "rights",
    "credit_line": "credit_line",
    "credit": "credit_line",
    "source": "source",
    "provenance": "source",
}
REQUIRED = ("filename", "catalogue_number")
RECORD_FIELDS = ("catalogue_number", "title", "creator", "date_text", "rights", "credit_line", "source")
MAX_BYTES = 100 * 1024 * 1024


class ManifestError(Exception):
    """The manifest as a whole is unusable; nothing was imported."""


@dataclass
class Manifest:
    rows: dict = field(default_factory=dict)  # normalised path → {field: value, "metadata": {...}, "line": n}
    messages: list = field(default_factory=list)
    encoding: str = "utf-8"
    used: set = field(default_factory=set)
    numbers: dict = field(default_factory=dict)  # catalogue number → manifest line

    def lookup(self, rel_path):
        """The row for a file: by its path relative to the import root, else by its bare name."""
        key = normalise_path(rel_path)
        if key in self.rows:
            self.used.add(key)
            return self.rows[key]
        base = key.rsplit("/", 1)[-1]
        if base in self.rows:
            self.used.add(base)
            return self.rows[base]
        return None

    def unused(self):
        return sorted(set(self.rows) - self.used)


def normalise_path(path):
    """Forward slashes, NFC (macOS writes NFD names), no leading "./"; nothing else is changed."""
    path = unicodedata.normalize("NFC", path.replace("\\", "/").strip())
    while path.startswith("./"):
        path = path[2:]
    return path


def _column(name):
    return re.sub(r"[^0-9a-z]+", "_", (name or "").strip().lower()).strip("_")


# Encodings a person may choose for a manifest; anything else (punycode, rot13, a typo) is refused by
# name rather than tried.
CHOOSABLE = {
    "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "big5", "big5hkscs", "cp950",
    "gbk", "gb2312", "gb18030", "cp936", "cp1252", "latin-1", "iso-8859-1", "shift_jis", "euc-kr",
}  # fmt: skip
# Legacy Chinese encodings tried on a manifest that is not UTF-8. Their byte ranges overlap: most GBK
# text is also valid Big5 and the other way round, so validity alone cannot decide (see _score).
CHINESE = ("gb18030", "big5hkscs")
NAMES = {"gbk": "GBK", "gb18030": "GB18030", "big5hkscs": "Big5-HKSCS", "utf-16": "UTF-16"}
# Characters frequent in catalogue text (the commonest characters of modern Chinese, then place and
# archive words), listed in Simplified; their Traditional and Hong Kong forms are added by OpenCC.
_FREQUENT = (
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事"
    "其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只"
    "主没公从已经动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名"
    "定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化"
    "由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路"
    "期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特"
    "觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条"
    "院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语"
    "英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火"
    "际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴切图团县落楼港州街馆园"
    "桥寺庙湖河岛村镇省典礼堂会照摄景夜貌旧址档案藏佚册页号刊报纸航拍晨曦维多利亚环九龙寨湾铜锣仔旺角"
    "油麻尖沙咀码头轮渡茶酒店医宫殿塔船厂铺巷坊林古迹纪念碑亭阁府衙署祠庵观铁站场银邮局博"
)
_PUNCTUATION = set("，。、：；「」『』（）《》〈〉！？—…·　“”‘’")
MIN_SCORE, MIN_MARGIN, FREQUENT_ONLY = 1.0, 0.5, 2.75
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_HAN_BESIDE_LATIN = re.compile(r"[A-Za-z][\u3400-\u9fff]|[\u3400-\u9fff][A-Za-z]")


def _canonical(name):
    return codecs.lookup(name).name.replace("_", "-")


def decode(data, encoding=None):
    """Text of the manifest and the encoding used: the one chosen, else a BOM's, else UTF-8, else
    the legacy Chinese encoding (GBK, GB18030 or Big5-HKSCS) whose reading scores best."""
    if encoding:
        return _decode_as(data, encoding)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise ManifestError(f"the manifest starts like UTF-16 but is not valid UTF-16: {exc.reason}")
    utf16 = _utf16_without_bom(data)
    if utf16:
        return utf16
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8_error:
        return _decode_chinese(data, utf8_error)
    return _not_gbk_by_accident(data, text) or (text, "utf-8")


def _not_gbk_by_accident(data, text):
    """A short GBK file can be valid UTF-8 too (学校 is D1A7 D0A3, which UTF-8 reads as Cyrillic ѧУ).
    Only when the UTF-8 reading has no Chinese at all, and the GBK reading is frequent characters that
    stand apart from Latin letters (UTF-8 é read as GBK is 茅 inside a word), is the file GBK."""
    if text.isascii() or _HAN.search(text):
        return None
    try:
        chinese = data.decode("gb18030")
    except UnicodeDecodeError:
        return None
    if _score(chinese) < FREQUENT_ONLY or _HAN_BESIDE_LATIN.search(chinese):
        return None
    return chinese, _gb_name(data, chinese)


def _decode_as(data, encoding):
    try:
        name = _canonical(encoding)
    except LookupError:
        raise ManifestError(f"the manifest encoding {encoding!r} is not an encoding this server knows")
    if name not in {_canonical(known) for known in CHOOSABLE}:
        raise ManifestError(f"the manifest encoding {encoding!r} is not a text encoding used for CSV files")
    try:
        text = data.decode(name)
    except (UnicodeError, ValueError) as exc:
        raise ManifestError(f"the manifest cannot be read as {encoding}: {exc}")
    return text.removeprefix("\ufeff"), encoding


def _utf16_without_bom(data):
    """UTF-16 written without a BOM: ASCII text then has a NUL in every other byte."""
    sample = data[:4096]
    if len(sample) < 8 or len(sample) % 2:
        return None
    for order, zeros, other in (("le", sample[1::2], sample[0::2]), ("be", sample[0::2], sample[1::2])):
        if zeros.count(0) > 0.6 * len(zeros) and other.count(0) == 0:
            try:
                return data.decode(f"utf-16-{order}"), "utf-16"
            except UnicodeDecodeError:
                return None
    return None


@lru_cache(maxsize=1)
def _frequent():
    return frozenset(scripts.variants(_FREQUENT))


@lru_cache(maxsize=1)
def _common():
    """The two standards' first levels: GB2312 level 1 (3755 Simplified characters) and Big5 level 1
    (5401 Traditional ones) were each chosen as the common characters of their script."""
    gb = _region("gb2312", range(0xB0, 0xD8), range(0xA1, 0xFF))
    big5 = _region("big5", range(0xA4, 0xC7), [*range(0x40, 0x7F), *range(0xA1, 0xFF)])
    return frozenset(gb | big5)


def _region(codec, leads, trails):
    found = set()
    for lead in leads:
        for trail in trails:
            with contextlib.suppress(UnicodeDecodeError):
                found.add(bytes((lead, trail)).decode(codec))
    return found


def _score(text):
    """How much the text reads like Chinese catalogue text, per non-ASCII character: 3 for a frequent
    character, 1 for another common one or Chinese punctuation, 0 for a rare ideograph, -3 for what a
    wrong decoding produces (kana, Bopomofo, box drawing, private use, Greek and Cyrillic letters)."""
    frequent, common = _frequent(), _common()
    total = count = 0
    for ch in text:
        if ch < "\x80" or ch.isspace():
            continue
        count += 1
        if ch in frequent:
            total += 3
        elif ch in common or ch in _PUNCTUATION:
            total += 1
        elif not ("\u3400" <= ch <= "\u9fff" or "\U00020000" <= ch <= "\U0003134f"):
            total -= 3
    return total / count if count else 0.0


def _decode_chinese(data, utf8_error):
    bad = data[utf8_error.start : utf8_error.start + 1].hex()
    not_utf8 = f"the manifest is not valid UTF-8 (byte 0x{bad} at position {utf8_error.start})"
    readings = []
    for codec in CHINESE:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if codec == "gb18030":
            codec = _gb_name(data, text)
        readings.append((_score(text), codec, text))
    readings.sort(reverse=True)
    if not readings or readings[0][0] < MIN_SCORE:
        tried = " or ".join(NAMES[codec] for _, codec, _ in readings) or "GBK, GB18030 or Big5-HKSCS"
        raise ManifestError(
            f"{not_utf8} and does not read as Chinese text in {tried}"
            "; it may be Latin-1 or Windows-1252: save it as UTF-8 (CSV UTF-8 in Excel) and upload it again"
        )
    if len(readings) > 1 and readings[0][0] - readings[1][0] < MIN_MARGIN:
        raise ManifestError(
            f"{not_utf8}; it reads as Chinese text both in {NAMES[readings[0][1]]} and in "
            f"{NAMES[readings[1][1]]}, so its encoding cannot be told: choose the encoding, or save it "
            "as UTF-8, and upload it again"
        )
    return readings[0][2], readings[0][1]


def _gb_name(data, text):
    """GBK when the file is GBK (GB18030's two-byte part reads the same), else GB18030."""
    try:
        return "gbk" if data.decode("gbk") == text else "gb18030"
    except UnicodeDecodeError:
        return "gb18030"


def parse(data, encoding=None):
    """Parse manifest bytes into a Manifest, or raise ManifestError."""
    if len(data) > MAX_BYTES:
        raise ManifestError(f"the manifest is larger than {MAX_BYTES // 1024 // 1024} MB")
    text, used = decode(data, encoding)
    if "\x00" in text:
        raise ManifestError("the manifest contains NUL bytes: it is not a CSV text file")
    manifest = Manifest(encoding=used)
    if used != "utf-8":
        manifest.messages.append(f"manifest read as {used}")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ManifestError("the manifest is empty")
    columns = _map_columns(header)
    try:
        for row in reader:
            _add_row(manifest, columns, row, reader.line_num)
    except csv.Error as exc:
        raise ManifestError(f"the manifest is not valid CSV near line {reader.line_num}: {exc}")
    if not manifest.rows:
        raise ManifestError("the manifest has a header but no usable rows")
    return manifest


def _map_columns(header):
    columns = []
    for name in header:
        key = _column(name)
        columns.append((ALIASES.get(key), name.strip() or key))
    present = {target for target, _ in columns if target}
    missing = [name for name in REQUIRED if name not in present]
    if missing:
        raise ManifestError(
            "the manifest lacks the column(s) "
            + ", ".join(missing)
            + f"; its header is: {', '.join(h.strip() for h in header)}"
        )
    return columns


def _add_row(manifest, columns, row, line):
    if not any(cell.strip() for cell in row):
        return
    if len(row) != len(columns):
        manifest.messages.append(
            f"line {line}: {len(row)} fields where the header has {len(columns)}; skipped"
        )
        return
    entry = {"metadata": {}, "line": line}
    for (target, name), value in zip(columns, row, strict=True):
        value = value.strip()
        if target:
            entry[target] = value
        elif value:
            entry["metadata"][name] = value
    if not entry["filename"] or not entry["catalogue_number"]:
        manifest.messages.append(f"line {line}: no file name or no catalogue number; skipped")
        return
    key = normalise_path(entry["filename"])
    if key in manifest.rows:
        manifest.messages.append(
            f"line {line}: file {entry['filename']} is listed twice; the second is skipped"
        )
        return
    number = entry["catalogue_number"]
    if number in manifest.numbers:
        manifest.messages.append(
            f"line {line}: catalogue number {number} is already used on line "
            f"{manifest.numbers[number]}; skipped"
        )
        return
    manifest.numbers[number] = line
    manifest.rows[key] = entry
