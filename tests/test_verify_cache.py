"""The verification cache: a picture's pairs decode it at full resolution once, with the verdicts of
decoding it afresh for every pair (dedup.verify.SideCache, _FullStore)."""

import hashlib
import io
import random
from collections import Counter
from pathlib import Path

import pytest
from PIL import ImageFile

from catalogue.variants import make_variant
from dedup import verify as core

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos"
JPEG = PHOTOS / "inet_n02002556_white_stork.jpg"

pytestmark = pytest.mark.skipif(not JPEG.is_file(), reason="shared photos not available")


def _group():
    """An original and, as an archive holds them, a re-encoding and an enlargement of it."""
    original = JPEG.read_bytes()
    copies = [
        make_variant(JPEG, kind, rng=random.Random(f"cache:{kind}")).data
        for kind in ("recompressed", "upscaled-lanczos")
    ]
    return [original, *copies]


def _pairs(files):
    o, r, u = files
    return [(r, u), (r, o), (u, o)]  # the order a batch verifies such a cluster in


def _info(data):
    return {"sha256": hashlib.sha256(data).hexdigest()}


def _verdicts(pairs, cache):
    out = []
    for left, right in pairs:
        v = core.verify(left, right, left_info=_info(left), right_info=_info(right), cache=cache)
        out.append((v.labels, v.params, v.sentence, v.confidence, v.source, v.derivation))
    return out


@pytest.fixture
def full_decodes(monkeypatch):
    """Full-resolution decodes, by the SHA-256 of the file decoded."""
    counts = Counter()
    load = ImageFile.ImageFile.load

    def counting(self):
        header = getattr(self, "_size_at_open", None)
        if self.tile and self.fp is not None and header == self.size:
            counts[hashlib.sha256(self.fp.getvalue()).hexdigest()] += 1
        return load(self)

    opened = core._open

    def remember(data, name):
        im = opened(data, name)
        im._size_at_open = im.size  # a reduced JPEG decode (draft) changes im.size before load
        return im

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting)
    monkeypatch.setattr(core, "_open", remember)
    return counts


def test_a_pictures_pairs_decode_each_file_at_full_resolution_once(full_decodes):
    files = _group()
    verdicts = _verdicts(_pairs(files), core.SideCache(32))
    labels = [v[0] for v in verdicts]
    assert "upscaled" in labels[0] and "recompressed" in labels[1] and "upscaled" in labels[2], labels
    assert "replayed" in verdicts[1][1]  # the replay decoded both whole, as the upscale tests did
    assert set(full_decodes) == {_info(f)["sha256"] for f in files}
    assert max(full_decodes.values()) == 1, full_decodes


def test_without_room_for_full_decodes_each_pair_decodes_again(full_decodes):
    files = _group()
    _verdicts(_pairs(files), core.SideCache(32, full_bytes=0))
    assert full_decodes[_info(files[1])["sha256"]] == 2  # the re-encoding: once per pair it is in


def test_kept_decodes_give_the_verdicts_of_fresh_ones():
    files = _group()
    pairs = _pairs(files)
    assert _verdicts(pairs, core.SideCache(32)) == _verdicts(pairs, core.SideCache(32, full_bytes=0))


def test_full_decodes_kept_within_the_budget_least_recently_used_dropped_first():
    store = core._FullStore(100)
    a, b, c = {}, {}, {}
    store.keep(a, "grey", "A", 40)
    store.keep(b, "grey", "B", 40)
    assert store.get(a, "grey") == "A"  # a used since b
    store.keep(c, "grey", "C", 40)
    assert (a, b, c) == ({"grey": "A"}, {}, {"grey": "C"})
    assert store.total == 80
    assert store.keep({}, "image", "huge", 101) == "huge" and store.total == 80  # larger than all: not kept
    store.drop(a)
    assert a == {} and store.total == 40


def test_a_cache_drops_the_full_decodes_of_sides_it_evicts():
    o, r, u = _group()
    cache = core.SideCache(2)
    _verdicts([(r, u), (u, o)], cache)  # o's side evicts r's, decoded whole for the first pair
    assert set(cache.sides) == {_info(u)["sha256"], _info(o)["sha256"]}
    kept = [side.full for side in cache.sides.values()]
    assert cache.full.held and all(any(holder is k for k in kept) for holder, _ in cache.full.held.values())
    assert cache.full.total == sum(size for _, size in cache.full.held.values())


def test_a_whole_frame_alignment_that_is_turned_down_measures_no_upscale(monkeypatch):
    original, _, upscale = _group()
    calls = []
    evidence = core._upscale_evidence
    monkeypatch.setattr(core, "_upscale_evidence", lambda *a: calls.append(a) or evidence(*a))
    monkeypatch.setattr(core, "FRAMED_TIGHT", 1.01)  # no whole-frame alignment is good enough: SIFT decides
    v = core.verify(io.BytesIO(original), io.BytesIO(upscale), cache=core.SideCache(4))
    assert "upscaled" in v.labels and "alignment" not in v.params
    assert len(calls) == 1  # for SIFT's alignment only
