"""Exactness of dedup.index against numpy brute force (recall 1.0, no false pairs, each pair once)."""

import numpy as np
import pytest

from dedup.index import HammingIndex, all_pairs, dedupe_pairs, new_pairs, shard_pairs

RNG = np.random.default_rng(20240611)


def _uniform(n, rng=RNG):
    return rng.integers(0, np.iinfo(np.int64).max, n, dtype=np.int64).view(np.uint64) ^ np.uint64(
        1 << 63
    ) * rng.integers(0, 2, n).astype(np.uint64)


def _clustered(n, rng=RNG):
    """Near-duplicate clusters: each centre gets several copies with 0..12 flipped bits."""
    centres = _uniform(max(1, n // 8), rng)
    base = centres[rng.integers(0, len(centres), n)]
    flips = np.zeros(n, np.uint64)
    for _ in range(12):
        on = rng.random(n) < 0.4
        flips |= (np.uint64(1) << rng.integers(0, 64, n).astype(np.uint64)) * on.astype(np.uint64)
    return base ^ flips


def _skewed(n, rng=RNG):
    """pHash-like: a constant DC bit, strongly biased low-frequency bits, correlated neighbours."""
    p = np.clip(np.linspace(0.02, 0.5, 64) + rng.normal(0, 0.05, 64), 0.01, 0.5)
    bits = rng.random((n, 64)) < p
    bits[:, 1::2] ^= bits[:, ::2] & (rng.random((n, 32)) < 0.8)  # neighbour correlation
    bits[:, 0] = True
    return np.packbits(bits, axis=1, bitorder="little").view("<u8").ravel().astype(np.uint64)


def _few_bits(n, rng=RNG):
    """All codes vary in only 12 bits: most pairs are within radius; every bucket is huge."""
    return np.uint64(0xF0F0_0000_FFFF_0000) | (rng.integers(0, 1 << 12, n).astype(np.uint64) << np.uint64(3))


def _zeros(n, rng=RNG):
    codes = np.zeros(n, np.uint64)
    codes[: n // 3] = np.uint64(1) << rng.integers(0, 64, n // 3).astype(np.uint64)
    return codes


DATASETS = {
    "uniform": _uniform,
    "clustered": _clustered,
    "skewed": _skewed,
    "few_bits": _few_bits,
    "zeros": _zeros,
}


def brute(ids, codes, radius):
    d = np.bitwise_count(codes[:, None] ^ codes[None, :]).astype(np.int64)
    i, j = np.nonzero(np.triu(d <= radius, 1))
    a, b = ids[i], ids[j]
    keep = a != b
    return sorted(
        zip(
            np.minimum(a, b)[keep].tolist(),
            np.maximum(a, b)[keep].tolist(),
            d[i, j][keep].tolist(),
            strict=True,
        )
    )


def as_list(a, b, d):
    return sorted(zip(a.tolist(), b.tolist(), d.tolist(), strict=True))


@pytest.mark.parametrize("kind", sorted(DATASETS))
@pytest.mark.parametrize("radius", [0, 3, 10])
def test_all_pairs_matches_brute_force(kind, radius):
    codes = DATASETS[kind](500 if kind in ("few_bits", "zeros") else 1500)  # those are output-bound
    ids = RNG.permutation(10_000)[: len(codes)].astype(np.int64)
    a, b, d = all_pairs(ids, codes, radius)
    assert (a < b).all()
    assert as_list(a, b, d) == brute(ids, codes, radius)


@pytest.mark.parametrize("kind", ["uniform", "clustered", "skewed"])
def test_larger_sets_at_radius_10(kind):
    codes = DATASETS[kind](6000)
    ids = np.arange(len(codes), dtype=np.int64)
    assert as_list(*all_pairs(ids, codes, 10)) == brute(ids, codes, 10)


def test_identical_codes_and_duplicate_ids():
    codes = np.r_[np.full(300, 0xDEAD_BEEF, np.uint64), _clustered(400)]
    ids = np.r_[np.arange(300), np.repeat(np.arange(300, 500), 2)].astype(np.int64)  # 2 signals per image
    got = as_list(*all_pairs(ids, codes, 10))
    assert got == brute(ids, codes, 10)
    a, b, d = dedupe_pairs(*all_pairs(ids, codes, 10))
    ref = {}
    for x, y, dist in got:
        ref[x, y] = min(dist, ref.get((x, y), 99))
    assert as_list(a, b, d) == sorted((x, y, dist) for (x, y), dist in ref.items())


def test_int64_codes_and_tiny_inputs():
    assert len(all_pairs([], [], 10)[0]) == 0
    assert len(all_pairs([1], [5], 10)[0]) == 0
    a, b, d = all_pairs([7, 3], np.array([-1, -2], np.int64), 1)  # signed storage of high-bit codes
    assert as_list(a, b, d) == [(3, 7, 1)]
    assert len(all_pairs([1, 2], [0, 0], -1)[0]) == 0


@pytest.mark.parametrize("kind", ["uniform", "clustered", "skewed", "zeros"])
def test_query_matches_brute_force(kind):
    codes = DATASETS[kind](3000)
    ids = np.arange(len(codes), dtype=np.int64)
    index = HammingIndex(ids[:2500], codes[:2500])
    assert len(index) == 2500
    qa, qb, qd = index.query(ids[2400:], codes[2400:], 10)
    d = np.bitwise_count(codes[2400:, None] ^ codes[None, :2500]).astype(np.int64)
    i, j = np.nonzero(d <= 10)
    keep = ids[2400:][i] != ids[j]
    ref = sorted(
        zip(ids[2400:][i][keep].tolist(), ids[j][keep].tolist(), d[i, j][keep].tolist(), strict=True)
    )
    assert as_list(qa, qb, qd) == ref


@pytest.mark.parametrize("kind", ["clustered", "skewed"])
def test_new_pairs_is_incremental_all_pairs(kind):
    codes = DATASETS[kind](4000)
    ids = np.arange(len(codes), dtype=np.int64)
    index = HammingIndex()
    seen = []
    for lo, hi in [(0, 2000), (2000, 2100), (2100, 2150), (2150, 3000), (3000, 4000)]:
        seen += as_list(*new_pairs(index, ids[lo:hi], codes[lo:hi], 10))
        assert len(index) == hi
    assert sorted(seen) == as_list(*all_pairs(ids, codes, 10))


@pytest.mark.parametrize("kind", ["uniform", "clustered", "skewed"])
def test_shards_partition_all_pairs(kind):
    codes = DATASETS[kind](3000)
    ids = np.arange(len(codes), dtype=np.int64)
    full = as_list(*all_pairs(ids, codes, 10))
    for shards in (1, 2, 5):
        parts = [as_list(*shard_pairs(ids, codes, 10, k, shards)) for k in range(shards)]
        union = sorted(p for part in parts for p in part)
        assert union == full  # equal multisets: no pair lost, none duplicated across shards


@pytest.mark.parametrize("kind", ["uniform", "clustered", "skewed", "zeros"])
def test_numpy_fallback_matches_brute_force(kind, monkeypatch):
    """The pure-numpy path (used when numba is missing) is exact too."""
    import dedup.index as ix

    monkeypatch.setattr(ix, "_nb", None)
    codes = DATASETS[kind](600 if kind == "zeros" else 1500)
    ids = np.arange(len(codes), dtype=np.int64)
    assert as_list(*all_pairs(ids, codes, 10)) == brute(ids, codes, 10)
    index = HammingIndex(ids[:1000], codes[:1000])
    seen = as_list(*new_pairs(index, ids[1000:], codes[1000:], 10))
    before = as_list(*all_pairs(ids[:1000], codes[:1000], 10))
    assert sorted(seen + before) == brute(ids, codes, 10)
