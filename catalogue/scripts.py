"""Chinese text in either script as one text. No Django imports.

Catalogues on the two sides of a cross-border merge describe the same photograph in Traditional
Chinese (often with Hong Kong variant characters: 綫, 衞, 裏) and in Simplified Chinese. Converting
Traditional to Simplified is many-to-one (乾 and 幹 both become 干), so both sides are folded to
Simplified, never the other way: two texts that fold to the same string are the same text written in
another script. OpenCC's ``hk2s`` conversion reads Hong Kong variants, standard Traditional and
Taiwan forms (臺 → 台) alike, and is phrase-aware (乾隆 stays 乾隆).

``fold`` also applies NFKC (full-width ＨＫ-００１ is HK-001, compatibility ideographs are the
ordinary ones), casefolds and collapses whitespace, so it is the one normal form used for search
(CatalogueRecord.search_text), the metadata comparison on the pair screen and the rights guardrails.
"""

import re
import unicodedata
from functools import lru_cache

import opencc

SAME, SCRIPT, DIFFERENT = "same", "script", "different"
_SPACE = re.compile(r"\s+")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


@lru_cache(maxsize=1)
def _converter():
    return opencc.OpenCC("hk2s")


@lru_cache(maxsize=1)
def _to_traditional():
    return [opencc.OpenCC(config) for config in ("s2t", "s2hk", "s2tw")]


def variants(simplified):
    """The characters given in Simplified, with their Traditional, Hong Kong and Taiwan forms."""
    found = set(simplified)
    for converter in _to_traditional():
        found.update(converter.convert(simplified))
    return found


def simplified(text):
    """The text in Simplified characters, case and spacing kept (fold() also casefolds)."""
    return _converter().convert(text or "")


def plain(text):
    """The text with NFKC, case and runs of whitespace normalised, its script left alone."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text or "")).strip().casefold()


def fold(text):
    """The normal form: plain() and then Simplified characters for Traditional and Hong Kong ones."""
    text = plain(text)
    if not _HAN.search(text):
        return text
    return _converter().convert(text)


@lru_cache(maxsize=4096)
def compare(a, b):
    """SAME when the two texts agree (ignoring case and spacing), SCRIPT when they differ only in the
    script of their Chinese characters, DIFFERENT otherwise. Cached: the tier rules compare the same
    rights and credit lines of a collection for every pair of it."""
    a, b = plain(a), plain(b)
    if a == b:
        return SAME
    return SCRIPT if fold(a) == fold(b) else DIFFERENT


def search_text(*values):
    """What a record is searched by: each value folded, one per line (a folded query has no newline,
    so a match never spans two fields)."""
    return "\n".join(fold(value) for value in values)
