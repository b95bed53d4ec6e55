"""Metadata as evidence. No Django imports.

Two catalogues describing one photograph often agree in what they say even where their numbers and
scripts differ: the same catalogue number in both collections, the same identifier written into the
file by the camera or the editing software (EXIF ImageUniqueID, XMP DocumentID), or the same title,
creator and date (compared in catalogue.scripts' normal form, so 香港大會堂 and 香港大会堂 agree).
On a pair of similar images that is supporting evidence; on two records whose images are unrelated it
is a catalogue error for a person to fix ("same description, different picture"), never a merge.
"""

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from PIL import Image

from catalogue import scripts

TITLE_RATIO = 0.9  # near-equal titles: 香港大會堂落成典禮 / 香港大会堂落成典礼摄影 and the like
_PUNCTUATION = re.compile(r"[\s\W_]+")
_DOCUMENT_ID = re.compile(rb'xmpMM:(?:Original)?DocumentID(?:="|>)([^"<]{4,200})')
_IMAGE_UNIQUE_ID = 0xA420


@dataclass(frozen=True)
class Evidence:
    """code: number (value: the number), file-id (value: the identifier, detail: which), description
    (value: same | script | near-equal title, detail: creator+date, the fields that agree too)."""

    code: str
    value: str
    detail: str = ""

    def __str__(self):
        if self.code == "number":
            return f"the same catalogue number {self.value} in both collections"
        if self.code == "file-id":
            return f"the same {self.detail} ({self.value})"
        title = {"same": "the same title", "script": "the same title in another script"}.get(
            self.value, "a near-equal title"
        )
        return f"{title}, the same {self.detail.replace('+', ' and ')}"


@dataclass(frozen=True)
class Description:
    number: str
    title: str
    creator: str
    date: str
    collection: int


def description(record):
    return Description(
        record.catalogue_number, record.title, record.creator, record.date_text, record.collection_id
    )


def key(text):
    """The comparison form of a catalogue value: folded script and case, no spaces or punctuation."""
    return _PUNCTUATION.sub("", scripts.fold(text))


def file_ids(fileobj):
    """The identifiers a file carries: EXIF ImageUniqueID and XMP (Original)DocumentID, from the
    header only (the pixels are not decoded). {} when there are none or the file cannot be read."""
    ids = {}
    try:
        with Image.open(fileobj) as im:
            unique = im.getexif().get_ifd(0x8769).get(_IMAGE_UNIQUE_ID)
            if isinstance(unique, bytes):
                unique = unique.decode("ascii", "ignore")
            if unique and str(unique).strip("\x00 0"):
                ids["EXIF ImageUniqueID"] = str(unique).strip("\x00 ")
            xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp") or b""
            if isinstance(xmp, str):
                xmp = xmp.encode()
            match = _DOCUMENT_ID.search(xmp)
            if match:
                ids["XMP DocumentID"] = match.group(1).decode("utf-8", "ignore").strip()
    except (OSError, ValueError, SyntaxError):
        return {}
    return ids


def agreement(a, b, ids_a=None, ids_b=None):
    """What the two records' metadata agrees on, as Evidence (empty when nothing)."""
    found = []
    if a.collection != b.collection and a.number and key(a.number) == key(b.number):
        found.append(Evidence("number", a.number))
    for name, value in (ids_a or {}).items():
        if value and (ids_b or {}).get(name) == value:
            found.append(Evidence("file-id", value, name))
    described = _described(a, b)
    if described:
        found.append(Evidence("description", *described))
    return found


def _described(a, b):
    """Near-equal title, and creator and date equal where both records give them (one at least):
    (how the titles agree, the fields that agree too), or None."""
    title_a, title_b = key(a.title), key(b.title)
    if not title_a or not title_b:
        return None
    ratio = 1.0 if title_a == title_b else SequenceMatcher(None, title_a, title_b).ratio()
    if ratio < TITLE_RATIO:
        return None
    agreed = []
    for label, one, other in (("creator", a.creator, b.creator), ("date", a.date, b.date)):
        if key(one) and key(other):
            if key(one) != key(other):
                return None
            agreed.append(label)
    if not agreed:
        return None
    if ratio < 1.0:
        return "near-equal", "+".join(agreed)
    bare_a, bare_b = _PUNCTUATION.sub("", a.title), _PUNCTUATION.sub("", b.title)
    return ("script" if scripts.compare(bare_a, bare_b) == scripts.SCRIPT else "same"), "+".join(agreed)


def same_descriptions(descriptions):
    """Pairs of records (by index into descriptions) whose metadata agrees: the same title, creator
    and date in normal form, or the same catalogue number in two collections. Grouped by key, so the
    work is linear in the number of records, not quadratic."""
    groups = {}
    for index, d in enumerate(descriptions):
        if key(d.title) and (key(d.creator) or key(d.date)):
            groups.setdefault(("description", key(d.title), key(d.creator), key(d.date)), []).append(index)
        if key(d.number):
            groups.setdefault(("number", key(d.number)), []).append(index)
    pairs = set()
    for group_key, members in groups.items():
        for i, one in enumerate(members):
            for other in members[i + 1 :]:
                same_collection = descriptions[one].collection == descriptions[other].collection
                if group_key[0] == "number" and same_collection:
                    continue
                pairs.add((min(one, other), max(one, other)))
    return sorted(pairs)
