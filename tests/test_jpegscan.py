"""catalogue.jpegscan: the import's check that a JPEG reads through to its end, without decoding it."""

import io
import random

import numpy as np
import pytest
from PIL import Image

from catalogue import jpegscan
from catalogue.inspect import RejectedFile, inspect_image


def _jpeg(size=(320, 240), **options):
    pixels = (np.random.RandomState(0).rand(size[1], size[0], 3) * 255).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", **options)
    return buf.getvalue()


def _decodes(data):
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (256, 256))
            image.load()
        return True
    except Exception:  # noqa: BLE001
        return False


KINDS = {
    "baseline": {},
    "progressive": {"progressive": True},
    "4:4:4": {"quality": 95, "subsampling": 0},
    "optimized": {"optimize": True},
    "restart markers": {"restart_marker_blocks": 4},
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_whole_jpeg_reads_through_and_a_cut_one_never_does(kind):
    data = _jpeg(**KINDS[kind])
    assert jpegscan.jpeg_problem(io.BytesIO(data)) is None
    assert jpegscan.jpeg_problem(io.BytesIO(data + b"trailing bytes after the end")) is None
    rng = random.Random(kind)
    for cut in [len(data) - 1, len(data) - 2, *rng.sample(range(2, len(data) - 2), 40)]:
        assert jpegscan.jpeg_problem(io.BytesIO(data[:cut])) is not None, cut


def test_reads_in_small_pieces_give_the_same_answers(monkeypatch):
    data = _jpeg(progressive=True)
    monkeypatch.setattr(jpegscan, "_READ", 997)
    assert jpegscan.jpeg_problem(io.BytesIO(data)) is None
    assert jpegscan.jpeg_problem(io.BytesIO(data[: len(data) // 2])) == "truncated"


def test_a_byte_turned_into_a_marker_libjpeg_refuses_is_found():
    data = bytearray(_jpeg())
    stuffed = data.index(b"\xff\x00", len(data) // 2)
    data[stuffed + 1] = 0xDD  # a restart-interval marker whose length is not 4
    assert not _decodes(bytes(data))
    assert jpegscan.jpeg_problem(io.BytesIO(bytes(data))) is not None


def test_a_huffman_table_whose_counts_disagree_with_its_length_is_found():
    data = bytearray(_jpeg())
    table = data.index(b"\xff\xc4")
    data[table + 5 + 3] += 7  # codes of length 4: more symbols than the segment holds
    assert not _decodes(bytes(data))
    assert jpegscan.jpeg_problem(io.BytesIO(bytes(data))) == "bad Huffman table"


def test_import_still_rejects_a_truncated_jpeg_with_libjpegs_words():
    data = _jpeg()
    with pytest.raises(RejectedFile, match="truncated JPEG file"):
        inspect_image(io.BytesIO(data[: len(data) * 2 // 3]), 10**9)
    assert inspect_image(io.BytesIO(data), 10**9).format == "JPEG"


def test_what_the_scan_objects_to_is_decided_by_the_decode(monkeypatch):
    """The scan only spares the decode: a file it doubts is decoded, and kept when libjpeg reads it."""
    monkeypatch.setattr("catalogue.inspect.jpeg_problem", lambda fileobj: "unknown marker")
    assert inspect_image(io.BytesIO(_jpeg()), 10**9).format == "JPEG"
