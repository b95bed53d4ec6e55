"""Exact Hamming-radius search over 64-bit perceptual hashes (multi-index hashing, numba or numpy).

Problem
    Given 64-bit codes, return *every* pair within Hamming distance ``t`` (typically 10), exactly:
    no approximate recall, no false pairs.  Brute force is O(N^2) popcounts (faiss ``IndexBinaryFlat``
    range search: ~5 s at 100k, ~10 min at 1M on the 2-core reference box).

Algorithm (multi-index hashing, Norouzi et al., with per-substring radii)
    1. Permute the bits so that the ``m`` substrings used below are contiguous bit fields.  The
       permutation is chosen from the data: bits that never vary are left out of every substring,
       and the varying bits are dealt out so that every substring gets a mix of balanced and
       unbalanced bits (real pHashes are not uniform: the DC bit is constant, low frequencies skew).
    2. Pigeonhole with radii: split (some of) the bits into disjoint substrings ``B_i`` with search
       radii ``r_i`` such that ``sum(r_i + 1) >= t + 1``.  If ``d(x, y) <= t`` then
       ``sum_i d_i(x, y) <= t`` where ``d_i`` is the distance on ``B_i`` (bits outside every substring
       only add to ``d``), so some ``i`` has ``d_i <= r_i``: otherwise ``sum d_i >= sum(r_i + 1) > t``.
       Hence probing, for every substring, all keys within ``r_i`` of the query's key finds every
       true neighbour: recall is 1.0 by construction, for any data, any bit permutation.
    3. Every candidate is verified with a full 64-bit popcount, so there are no false pairs.
    4. Each pair is reported once: a pair found through substring ``i`` is dropped if an earlier
       substring ``j < i`` also has ``d_j <= r_j`` (it was, or will be, reported there).  Inside one
       substring a pair has exactly one xor key, so it is found once there.  For the self-join the
       symmetric probe (k -> k^f and k^f -> k) is halved by only probing from keys whose bit at the
       highest set bit of ``f`` is 0.
    5. Identical codes are collapsed first (np.unique); the join runs on distinct codes and is
       expanded back to ids, so "100k copies of the all-zero hash" costs the size of its output only.

Implementation
    The hot loops are numba kernels (``dedup/_index_numba.py``, nogil, run on a thread pool over
    deterministic work units).  Per substring: the distinct codes sorted by key, dense tables
    indexed by the key (``2**s`` entries, s <= 22: start/count into the sorted order, an
    occupancy bitmap, and the code of single-code buckets), and a *cache-blocked* probe loop: keys
    are cut into blocks of 2**14 values; for a row block and a high mask part every probe lands in
    one target block whose table windows (~128 KB) stay in L2 while all low mask parts are
    applied.  A key-major loop over the same tables was memory-bound (~10-15 ns per probe; 1M
    took 23 s instead of ~14 s), and plain vectorised numpy has to materialise every probe (~10
    array passes), which measured ~67 s at 1M.  Without numba the numpy path is used: same
    plan, same results (tested), 4-5x slower.

Choosing m, s_i and r_i
    A cost model (ns per probe, per candidate and per table entry) is minimised per table size.
    At N = 1M, t = 10 it picks m = 3 substrings, s = (22, 22, 19), r = (3, 3, 2): ~1.9k probes
    and ~0.5k candidates per code.  The textbook m = t + 1 = 11 exact-match substrings of ~6 bits
    gives buckets of ~16k codes at 1M, i.e. ~176k candidates per code (why a simple numpy MIH took
    ~31 s at 1M for t = 8); m = 4 (16 bits, r = 2) still gives ~6.5k candidates per code.

    faiss ``IndexBinaryMultiHash`` was rejected on arithmetic: its tables share one ``nflip`` and it
    deduplicates candidates through a per-query hash set; 4 x 16-bit tables with nflip = 2 (exact
    for t = 10) means ~550 hash-map probes and ~8k set insertions per query, minutes at 1M.
    ``IndexBinaryFlat`` (exact brute force) is the reference in the benchmark.

Measured (bench/pairs.py, t = 10, on 2 shared vCPUs with heavy CPU steal: faiss flat at 100k took
6.6-13 s across runs against ~5 s on a quiet box, so absolute times vary ~2x run to run)
    all_pairs 10k: 0.04-0.06 s (imagededup brute force 63-77 s: ~1,400x);
    100k: 0.4-0.6 s (faiss IndexBinaryFlat 6.6-9.6 s: ~15x); 1M: 16-30 s uniform, 22-29 s
    pHash-like, ~350 MB; new_pairs 10k against 990k: ~1.5 s, 26 MB.  Recall 1.0 and no false
    pairs everywhere (brute force at 10k, faiss at 100k, sampled brute force at 1M).
    Growth: with keys capped at 22 bits candidates grow ~N^2 past ~4M codes; the cost model
    projects ~70x the 1M time at 10M (use shard_pairs across machines, or raise _MAX_KEY_BITS).

Complexity
    Self-join: O(sum_i n * V(s_i, r_i) / 2) probes + O(n^2 * sum_i V(s_i, r_i) / 2^(s_i + 1))
    candidates + output, where V(s, r) = sum_{k<=r} C(s, k); memory O(n + sum_i 2^(s_i)).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

__all__ = ["HammingIndex", "all_pairs", "dedupe_pairs", "new_pairs", "shard_pairs"]

_MAX_KEY_BITS = 22  # dense tables of 2**22 entries: ~70 MB per substring at most
_BLOCK = 1 << 20  # probe elements per numpy call: large enough to amortise call overhead
try:  # compiled probe loops; the numpy path below is the portable, equally exact fallback
    from dedup import _index_numba as _nb
except ImportError:  # pragma: no cover - exercised by forcing _nb = None in the tests
    _nb = None
# Cost-model constants (ns per probe, per candidate, per dense-table entry), measured on the box.
_COSTS = {"numba": (1.0, 6.0, 2.0), "numpy": (3.5, 12.0, 3.0)}
_THREADS = max(1, min(4, os.cpu_count() or 1))

_EMPTY_I = np.empty(0, np.int64)


def _empty_pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _EMPTY_I.copy(), _EMPTY_I.copy(), np.empty(0, np.int64)


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x)


def _ball(s: int, r: int) -> int:
    return sum(math.comb(s, k) for k in range(r + 1))


# --------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class _Plan:
    """Bit permutation and substring layout of one table; depends on the data only for speed."""

    radius: int
    perm_lut: np.ndarray  # (8, 256) uint64: byte value -> permuted bits
    offsets: tuple[int, ...]
    sizes: tuple[int, ...]
    radii: tuple[int, ...]
    masks: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        masks = tuple(((1 << s) - 1) << o for o, s in zip(self.offsets, self.sizes, strict=True))
        object.__setattr__(self, "masks", masks)

    def permute(self, codes: np.ndarray) -> np.ndarray:
        out = np.zeros(len(codes), np.uint64)
        for b in range(8):
            byte = ((codes >> np.uint64(8 * b)) & np.uint64(0xFF)).astype(np.intp)
            out |= self.perm_lut[b][byte]
        return out

    def key(self, pcodes: np.ndarray, i: int) -> np.ndarray:
        mask = np.uint64((1 << self.sizes[i]) - 1)
        return ((pcodes >> np.uint64(self.offsets[i])) & mask).astype(np.int64)


def _layouts(n_bits: int, t: int) -> Iterable[tuple[tuple[int, ...], tuple[int, ...]]]:
    """All (sizes, radii) with sum(r_i + 1) = t + 1 and at most two distinct radii."""
    for m in range(1, t + 2):
        q, extra = divmod(t + 1, m)
        radii = (q,) * extra + (q - 1,) * (m - extra)
        n_hi, n_lo = extra, m - extra
        for s_hi in range(1, _MAX_KEY_BITS + 1) if n_hi else [0]:
            left = n_bits - n_hi * s_hi
            if left < n_lo:
                break
            s_lo = min(_MAX_KEY_BITS, left // n_lo) if n_lo else 0
            sizes = (s_hi,) * n_hi + (s_lo,) * n_lo
            if all(s >= 1 for s in sizes) and all(r <= s for r, s in zip(radii, sizes, strict=True)):
                yield sizes, radii


def _layout_cost(n: int, sizes: tuple[int, ...], radii: tuple[int, ...]) -> float:
    _PROBE_NS, _CAND_NS, _TABLE_NS = _COSTS["numba" if _nb is not None else "numpy"]
    cost = 0.0
    for s, r in zip(sizes, radii, strict=True):
        vol = _ball(s, r)
        occupied = 2.0**s * -math.expm1(-n / 2.0**s)
        cost += _PROBE_NS * occupied * vol / 2 + _CAND_NS * n * n / 2 * vol / 2.0**s + _TABLE_NS * 2.0**s
    return cost


def _bit_order(codes: np.ndarray) -> tuple[list[int], list[int]]:
    """Varying bits (most balanced first) and constant bits, from a sample of the codes."""
    sample = codes if len(codes) <= 200_000 else codes[:: len(codes) // 200_000 + 1]
    if len(sample) == 0:
        return list(range(64)), []
    ones = np.array([np.count_nonzero((sample >> np.uint64(b)) & np.uint64(1)) for b in range(64)])
    varying = [b for b in range(64) if 0 < ones[b] < len(sample)]
    constant = [b for b in range(64) if b not in varying]
    varying.sort(key=lambda b: abs(ones[b] / len(sample) - 0.5))
    return varying, constant


def _make_plan(codes: np.ndarray, radius: int) -> _Plan:
    varying, constant = _bit_order(codes)
    n_bits = max(len(varying), 1)
    n = len(codes)
    # Fewer varying bits than the radius (e.g. one distinct code): every pair is within the radius,
    # and one substring of all varying bits probed to full radius enumerates them exactly.
    layouts = list(_layouts(n_bits, radius)) or [((n_bits,), (min(radius, n_bits),))]
    sizes, radii = min(layouts, key=lambda lr: _layout_cost(n, *lr))
    # Deal the varying bits round-robin so each substring mixes balanced and skewed bits.
    slots: list[list[int]] = [[] for _ in sizes]
    queue = list(varying)
    while queue and any(len(sl) < s for sl, s in zip(slots, sizes, strict=True)):
        for sl, s in zip(slots, sizes, strict=True):
            if queue and len(sl) < s:
                sl.append(queue.pop(0))
    used = [b for sl in slots for b in sl]
    rest = [b for b in range(64) if b not in used]
    order = used + rest  # permuted position p holds original bit order[p]
    lut = np.zeros((8, 256), np.uint64)
    values = np.arange(256, dtype=np.uint64)
    for new_pos, old_bit in enumerate(order):
        byte, bit = divmod(old_bit, 8)
        lut[byte] |= ((values >> np.uint64(bit)) & np.uint64(1)) << np.uint64(new_pos)
    offsets = tuple(int(x) for x in np.cumsum((0,) + sizes[:-1]))
    del constant  # constant bits simply land in ``rest``: they never separate two codes
    return _Plan(radius, lut, offsets, sizes, radii)


def _masks_by_top_bit(s: int, r: int) -> list[np.ndarray]:
    """Non-zero masks of weight <= r on s bits, grouped by their highest set bit."""
    if r == 0:
        return []
    groups = []
    for hb in range(s):
        low = [0]
        for w in range(1, r):
            low += [sum(1 << b for b in c) for c in itertools.combinations(range(hb), w)]
        groups.append(np.array([(1 << hb) | x for x in low], np.int64))
    return groups


def _all_masks(s: int, r: int) -> np.ndarray:
    return (
        np.concatenate([np.zeros(1, np.int64), *_masks_by_top_bit(s, r)]) if r > 0 else np.zeros(1, np.int64)
    )


# -------------------------------------------------------------------------------------------- table


class _Substring:
    """Dense key-indexed tables of one substring over a table's distinct permuted codes."""

    def blocking(self) -> dict:
        if self._blocking is None:
            self._blocking = _blocking_layout(self)
        return self._blocking

    def __init__(self, pcodes: np.ndarray, plan: _Plan, i: int):
        self.i, self.s, self.r = i, plan.sizes[i], plan.radii[i]
        keys = plan.key(pcodes, i).astype(np.int32 if plan.sizes[i] < 31 else np.int64)
        self.order = np.argsort(keys, kind="stable")
        sorted_keys = keys[self.order]
        self.sorted_codes = pcodes[self.order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        self.ukeys = sorted_keys[starts]
        counts = np.diff(np.r_[starts, len(keys)])
        size = 1 << self.s
        self.occ = np.zeros(size, np.uint8)
        self.occ[self.ukeys] = 1
        self.start = np.zeros(size, np.int32)
        self.start[self.ukeys] = starts
        self.count = np.zeros(size, np.int32)
        self.count[self.ukeys] = counts
        self.occ_bits = np.packbits(np.r_[self.occ, np.zeros(-size % 64, np.uint8)], bitorder="little")
        self.occ_bits = self.occ_bits.view(np.int64)
        multi = np.zeros(size + (-size % 64), np.uint8)
        multi[self.ukeys[counts > 1]] = 1
        self.multi_bits = np.packbits(multi, bitorder="little").view(np.int64)
        self.multi_keys = self.ukeys[counts > 1]
        self._blocking: dict | None = None
        self.single_keys = self.ukeys[counts == 1]
        self.direct = self.s - self.r > plan.radius
        # filler: key bits complemented, so a probe of an empty slot is at distance >= s - r
        self.code = ((~np.arange(size, dtype=np.uint64)) & np.uint64(size - 1)) << np.uint64(plan.offsets[i])
        single_pos = starts[counts == 1]
        self.code[self.single_keys] = self.sorted_codes[single_pos]


def _weight_sorted_masks(bits: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All masks of weight <= r on ``bits`` bits sorted by weight: (masks, top bit, end per weight)."""
    masks, ends = [0], [1]
    for w in range(1, min(r, bits) + 1):
        masks += [sum(1 << b for b in c) for c in itertools.combinations(range(bits), w)]
        ends.append(len(masks))
    ends += [len(masks)] * (r + 1 - len(ends))
    arr = np.array(masks, np.int64)
    top = np.array([max(m.bit_length() - 1, 0) for m in masks], np.int64)
    return arr, top, np.array(ends, np.int64)


def _blocking_layout(sub) -> dict:
    low_bits = min(_LOW_BITS, sub.s)
    n_blocks = 1 << (sub.s - low_bits)
    block_start = np.searchsorted(sub.ukeys, np.arange(n_blocks + 1, dtype=np.int64) << low_bits)
    high, high_top_bit, high_end = _weight_sorted_masks(sub.s - low_bits, sub.r)
    high_weight = np.searchsorted(high_end, np.arange(len(high)), side="right")
    low, low_top, low_end = _weight_sorted_masks(low_bits, sub.r)
    ustart = sub.start[sub.ukeys]
    ucount = sub.count[sub.ukeys]
    high_top = np.stack([high_top_bit, sub.r - high_weight], axis=1).astype(np.int64)
    arrays = (
        block_start.astype(np.int64), sub.ukeys.astype(np.int64), ustart, ucount,
        high, high_top, low, low_top, low_end, low_bits,
    )  # fmt: skip
    return {"n_blocks": n_blocks, "arrays": arrays}


@dataclass
class _Pairs:
    """Accumulates verified pairs of distinct-code indices."""

    a: list[np.ndarray] = field(default_factory=list)
    b: list[np.ndarray] = field(default_factory=list)
    d: list[np.ndarray] = field(default_factory=list)

    def put(self, a: np.ndarray, b: np.ndarray, d: np.ndarray) -> None:
        if len(a):
            self.a.append(a)
            self.b.append(b)
            self.d.append(d)

    def extend(self, other: _Pairs) -> None:
        self.a += other.a
        self.b += other.b
        self.d += other.d

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.a:
            return _empty_pairs()
        return np.concatenate(self.a), np.concatenate(self.b), np.concatenate(self.d).astype(np.int64)


_SAME_KEY, _DIRECT, _MULTI, _GENERIC, _KERNEL = range(5)
_LOW_BITS = 14  # 2**14-key blocks: start/count windows of 128 KB stay in L2
_KERNEL_CHUNKS = 32  # units per substring: load balance across threads / shards


def _blocks(masks: np.ndarray, n_rows: int) -> list[np.ndarray]:
    step = max(1, _BLOCK // max(1, n_rows))
    return [masks[k : k + step] for k in range(0, len(masks), step)]


def _expand(count_a: np.ndarray, count_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cartesian products of bucket pairs: (pair row, offset in bucket a, offset in bucket b)."""
    n = count_a.astype(np.int64) * count_b
    row = np.repeat(np.arange(len(n)), n)
    local = np.arange(len(row)) - np.repeat(np.cumsum(n) - n, n)
    cb = count_b[row]
    return row, local // cb, local % cb


class _Table:
    """Multi-index over distinct codes for one radius."""

    def __init__(self, codes: np.ndarray, radius: int):
        self.plan = _make_plan(codes, radius)
        self.pcodes = self.plan.permute(codes)
        self.subs = [_Substring(self.pcodes, self.plan, i) for i in range(len(self.plan.sizes))]
        self.top_masks = [
            [m.astype(sub.ukeys.dtype) for m in _masks_by_top_bit(sub.s, sub.r)] for sub in self.subs
        ]

    def _kernel_args(self, i: int) -> tuple:
        sub = self.subs[i]
        prev_masks = np.array(self.plan.masks[:i], np.uint64)
        prev_radii = np.array(self.plan.radii[:i], np.int64)
        return (
            sub.occ_bits,
            sub.start,
            sub.count,
            sub.sorted_codes,
            sub.order,
            self.plan.radius,
            prev_masks,
            prev_radii,
        )

    def _kernel_unit(self, i: int, kind: int, chunk: int) -> _Pairs:
        sub = self.subs[i]
        args = self._kernel_args(i)[1:]
        if kind == _SAME_KEY:
            res = _nb.same_key_pairs(sub.multi_keys.astype(np.int64), *args)
        else:
            lay = sub.blocking()
            blocks = np.arange(chunk, lay["n_blocks"], _KERNEL_CHUNKS, dtype=np.int64)
            res = _nb.blocked_join(blocks, *lay["arrays"], *args)
        out = _Pairs()
        out.put(res[0], res[1], res[2])
        return out

    def _query_kernel(self, i: int, qkeys: np.ndarray, pq: np.ndarray):
        sub = self.subs[i]
        by_key = np.argsort(qkeys, kind="stable")
        qkeys = qkeys[by_key].astype(np.int64)
        arrays = sub.blocking()["arrays"]
        low_bits = arrays[-1]
        high, high_top, low, _low_top, low_end = arrays[4:9]
        qblock_start = np.searchsorted(
            qkeys, np.arange((1 << (sub.s - low_bits)) + 1, dtype=np.int64) << low_bits
        )
        occ, *rest = self._kernel_args(i)
        blocking = (qblock_start, qkeys, pq[by_key], high, high_top, low, low_end, low_bits)
        res = _nb.query_blocked(*blocking, occ, sub.multi_bits, sub.code, *rest)
        return res, by_key

    # -- verification ------------------------------------------------------------------------------
    def _verify(self, i: int, xa: np.ndarray, xb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = xa ^ xb
        d = _popcount(x)
        keep = d <= self.plan.radius
        for j in range(i):  # found through an earlier substring already
            keep &= _popcount(x & np.uint64(self.plan.masks[j])) > self.plan.radii[j]
        return keep, d

    def _emit(self, i: int, pos_a: np.ndarray, pos_b: np.ndarray, out: _Pairs, xa: np.ndarray | None = None):
        """Verify pairs of positions in substring i's sorted order (or query codes xa vs pos_b)."""
        sub = self.subs[i]
        ca = sub.sorted_codes[pos_a] if xa is None else xa
        keep, d = self._verify(i, ca, sub.sorted_codes[pos_b])
        a = sub.order[pos_a[keep]] if xa is None else pos_a[keep]
        out.put(a, sub.order[pos_b[keep]], d[keep])

    # -- self-join ------------------------------------------------------------------------------------
    def units(self) -> list[tuple[int, int, int]]:
        """Deterministic work units: (substring, kind, top bit of the probe masks)."""
        units = []
        if _nb is not None:
            for i in range(len(self.subs)):
                units += [(i, _SAME_KEY, 0)] + [(i, _KERNEL, c) for c in range(_KERNEL_CHUNKS)]
            return units
        for i, sub in enumerate(self.subs):
            units.append((i, _SAME_KEY, 0))
            kinds = (_DIRECT, _MULTI) if sub.direct else (_GENERIC,)
            units += [(i, kind, hb) for kind in kinds for hb in range(len(self.top_masks[i]))]
        return units

    def run_unit(self, unit: tuple[int, int, int]) -> _Pairs:
        i, kind, hb = unit
        if _nb is not None:
            return self._kernel_unit(i, kind, hb)
        out = _Pairs()
        sub = self.subs[i]
        if kind == _SAME_KEY:
            self._same_key_pairs(i, out)
            return out
        masks = self.top_masks[i][hb]
        if kind == _DIRECT:
            rows = sub.single_keys[((sub.single_keys >> hb) & 1) == 0]
            for block in _blocks(masks, len(rows)):
                self._probe_direct(i, rows, block, out)
            return out
        # generic: every key of its half; multi: multi-code keys against every key (both halves,
        # except multi-vs-multi, which the symmetric probe from the other side would repeat)
        rows = sub.multi_keys if kind == _MULTI else sub.ukeys[((sub.ukeys >> hb) & 1) == 0]
        for block in _blocks(masks, len(rows)):
            self._probe(i, rows, block, out, multi_only=kind == _MULTI, hb=hb)
        return out

    def _probe_direct(self, i: int, rows: np.ndarray, masks: np.ndarray, out: _Pairs) -> None:
        """Single-code buckets only: the code table answers a probe without an occupancy test.

        Empty and multi-code slots hold a filler whose key bits are the complement of the slot's
        key, i.e. at distance >= s - r > radius from any probing code, so they never verify.
        """
        sub = self.subs[i]
        targets = (masks[:, None] ^ rows[None, :]).ravel()
        x = np.take(sub.code, targets).reshape(len(masks), len(rows))
        x ^= sub.code[rows][None, :]
        x = x.ravel()
        hit = np.flatnonzero(_popcount(x) <= self.plan.radius)
        if not len(hit):
            return
        x = x[hit]
        keep = np.ones(len(hit), bool)
        for j in range(i):
            keep &= _popcount(x & np.uint64(self.plan.masks[j])) > self.plan.radii[j]
        hit, x = hit[keep], x[keep]
        ka = rows[hit % len(rows)]
        kb = targets[hit]
        out.put(sub.order[sub.start[ka]], sub.order[sub.start[kb]], _popcount(x))

    def _same_key_pairs(self, i: int, out: _Pairs) -> None:
        sub = self.subs[i]
        if not len(sub.multi_keys):
            return
        counts = sub.count[sub.multi_keys]
        starts = sub.start[sub.multi_keys]
        # element e at local index l of a bucket of size c pairs with the c - 1 - l elements after it
        elem_bucket = np.repeat(np.arange(len(counts)), counts)
        local = np.arange(len(elem_bucket)) - np.repeat(np.cumsum(counts) - counts, counts)
        partners = counts[elem_bucket] - 1 - local
        src = np.repeat(starts[elem_bucket] + local, partners)
        first = np.repeat(np.cumsum(partners) - partners, partners)
        dst = src + 1 + (np.arange(len(src)) - first)
        self._emit(i, src, dst, out)

    def _probe(self, i: int, row_keys, masks, out: _Pairs, multi_only: bool = False, hb: int = 0) -> None:
        sub = self.subs[i]
        targets = (masks[:, None] ^ row_keys[None, :]).ravel()
        hit = np.flatnonzero(np.take(sub.occ, targets))
        if not len(hit):
            return
        ka = row_keys[hit % len(row_keys)]
        kb = targets[hit]
        if multi_only:  # multi rows pair with single targets, and with multi targets from one side
            keep = (sub.count[kb] == 1) | (((ka >> hb) & 1) == 0)
            ka, kb = ka[keep], kb[keep]
        single = (sub.count[ka] == 1) & (sub.count[kb] == 1)
        self._single_pairs(i, ka[single], kb[single], out)
        if not single.all():
            ka, kb = ka[~single], kb[~single]
            row, oa, ob = _expand(sub.count[ka], sub.count[kb])
            self._emit(i, sub.start[ka][row] + oa, sub.start[kb][row] + ob, out)

    def _single_pairs(self, i: int, ka: np.ndarray, kb: np.ndarray, out: _Pairs) -> None:
        sub = self.subs[i]
        keep, d = self._verify(i, sub.code[ka], sub.code[kb])
        out.put(sub.order[sub.start[ka[keep]]], sub.order[sub.start[kb[keep]]], d[keep])

    # -- queries ----------------------------------------------------------------------------------------
    def query(self, qcodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query index, distinct-code index, distance) for distinct query codes (raw, unpermuted)."""
        pq = self.plan.permute(qcodes)
        out = _Pairs()
        for i, sub in enumerate(self.subs):
            qkeys = self.plan.key(pq, i)
            masks = _all_masks(sub.s, sub.r)
            if _nb is not None:
                res, by_key = self._query_kernel(i, qkeys, pq)
                out.put(by_key[res[0]], res[1], res[2])
                continue
            step = max(1, _BLOCK // max(1, len(masks)))
            for lo in range(0, len(pq), step):
                self._query_block(i, np.arange(lo, min(lo + step, len(pq))), qkeys, pq, masks, out)
        return out.arrays()

    def _query_block(self, i, qidx, qkeys, pq, masks, out: _Pairs) -> None:
        sub = self.subs[i]
        targets = (qkeys[qidx][:, None] ^ masks[None, :]).ravel()
        hit = np.flatnonzero(np.take(sub.occ, targets))
        if not len(hit):
            return
        qa = qidx[hit // len(masks)]
        kb = targets[hit]
        cnt = sub.count[kb]
        row, _, ob = _expand(np.ones(len(kb), np.int32), cnt)
        qa = qa[row]
        self._emit(i, qa, sub.start[kb][row] + ob, out, xa=pq[qa])


def _run_units(table: _Table, units: list[tuple[int, int, int]], threads: int) -> _Pairs:
    out = _Pairs()
    if threads <= 1 or len(units) < 2:
        for u in units:
            out.extend(table.run_unit(u))
        return out
    with ThreadPoolExecutor(threads) as pool:
        for res in pool.map(table.run_unit, units):
            out.extend(res)
    return out


# ------------------------------------------------------------------------------------- id handling


def _as_arrays(ids, codes) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(ids if ids is not None else [], dtype=np.int64).ravel()
    codes = np.asarray(codes if codes is not None else [])
    codes = codes.astype(np.uint64, copy=False).ravel() if codes.dtype != np.int64 else codes.view(np.uint64)
    if len(ids) != len(codes):
        raise ValueError(f"{len(ids)} ids for {len(codes)} codes")
    return ids, codes


@dataclass
class _Groups:
    """Distinct codes and, for each, the ids (members) that carry it."""

    codes: np.ndarray
    members: np.ndarray  # ids sorted by distinct code
    start: np.ndarray
    count: np.ndarray

    @classmethod
    def build(cls, ids: np.ndarray, codes: np.ndarray) -> _Groups:
        uniq, inverse, count = np.unique(codes, return_inverse=True, return_counts=True)
        order = np.argsort(inverse, kind="stable")
        start = np.cumsum(count) - count
        return cls(uniq, ids[order], start, count)

    def expand(self, ua, ub, d, other: _Groups | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Code-level pairs (ua in self, ub in other) -> id-level pairs."""
        other = other or self
        ca, cb = self.count[ua], other.count[ub]
        if (ca == 1).all() and (cb == 1).all():
            return self.members[self.start[ua]], other.members[other.start[ub]], d
        row, oa, ob = _expand(ca, cb)
        return self.members[self.start[ua][row] + oa], other.members[other.start[ub][row] + ob], d[row]

    def same_code_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        multi = np.flatnonzero(self.count > 1)
        if not len(multi):
            return _empty_pairs()
        row, oa, ob = _expand(self.count[multi], self.count[multi])
        keep = oa < ob
        row, oa, ob = row[keep], oa[keep], ob[keep]
        base = self.start[multi][row]
        return self.members[base + oa], self.members[base + ob], np.zeros(len(row), np.int64)


def _orient(a, b, d) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keep = a != b
    a, b, d = a[keep], b[keep], d[keep]
    return np.minimum(a, b), np.maximum(a, b), d


def _sorted(a, b, d) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.lexsort((d, b, a))
    return a[order], b[order], d[order].astype(np.int64)


# -------------------------------------------------------------------------------------------- API


def shard_pairs(ids, codes, radius: int, shard: int, shards: int, *, threads: int = 1):
    """The ``shard``-th of ``shards`` disjoint parts of ``all_pairs``; their union is all_pairs.

    Work units are derived from the data alone, so every shard count partitions the same pairs.
    """
    if not 0 <= shard < shards:
        raise ValueError("need 0 <= shard < shards")
    ids, codes = _as_arrays(ids, codes)
    if radius < 0 or len(codes) < 2:
        return _empty_pairs()
    groups = _Groups.build(ids, codes)
    parts = [groups.same_code_pairs()] if shard == 0 else []
    if len(groups.codes) > 1:
        table = _Table(groups.codes, radius)
        units = table.units()[shard::shards]
        ua, ub, d = _run_units(table, units, threads).arrays()
        parts.append(groups.expand(ua, ub, d))
    if not parts:
        return _empty_pairs()
    return _sorted(*_orient(*(np.concatenate(x) for x in zip(*parts, strict=True))))


def all_pairs(ids, codes, radius: int):
    """Every unordered pair (a < b by id) of codes within ``radius``, each code pair once."""
    return shard_pairs(ids, codes, radius, 0, 1, threads=_THREADS)


def dedupe_pairs(a, b, d):
    """Unique unordered id pairs (a < b), keeping the minimum distance (for multi-signal images)."""
    a, b, d = (np.asarray(x, np.int64) for x in (a, b, d))
    a, b, d = _sorted(*_orient(a, b, d))
    first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])] if len(a) else np.zeros(0, bool)
    return a[first], b[first], d[first]


class HammingIndex:
    """Incrementally growing exact radius index.

    Codes live in segments whose sizes grow geometrically (a small log-structured merge), so
    ``add`` never rebuilds a large table; per-segment multi-index tables are built lazily per radius.
    """

    def __init__(self, ids: np.ndarray | None = None, codes: np.ndarray | None = None):
        self._segments: list[_Segment] = []
        if ids is not None or codes is not None:
            self.add(ids, codes)

    def add(self, ids, codes) -> None:
        ids, codes = _as_arrays(ids, codes)
        if not len(ids):
            return
        self._segments.append(_Segment(ids, codes))
        while len(self._segments) > 1 and len(self._segments[-1]) * 2 >= len(self._segments[-2]):
            last = self._segments.pop()
            self._segments[-1] = self._segments[-1].merged(last)

    def __len__(self) -> int:
        return sum(len(s) for s in self._segments)

    def prepare(self, radius: int) -> None:
        """Build the tables for ``radius`` now rather than on the first query."""
        for seg in self._segments:
            seg.table(radius)

    def query(self, ids, codes, radius: int):
        """All (query_id, indexed_id, distance) with distance <= radius, query_id != indexed_id."""
        ids, codes = _as_arrays(ids, codes)
        if radius < 0 or not len(ids) or not self._segments:
            return _empty_pairs()
        queries = _Groups.build(ids, codes)
        parts = []
        for seg in self._segments:
            qa, ub, d = seg.table(radius).query(queries.codes)
            parts.append(queries.expand(qa, ub, d, seg.groups))
        a, b, d = (np.concatenate(x) for x in zip(*parts, strict=True))
        keep = a != b
        return _sorted(a[keep], b[keep], d[keep])


class _Segment:
    def __init__(self, ids: np.ndarray, codes: np.ndarray):
        self.ids, self.codes = ids, codes
        self.groups = _Groups.build(ids, codes)
        self._tables: dict[int, _Table] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def merged(self, other: _Segment) -> _Segment:
        return _Segment(np.concatenate([self.ids, other.ids]), np.concatenate([self.codes, other.codes]))

    def table(self, radius: int) -> _Table:
        if radius not in self._tables:
            self._tables[radius] = _Table(self.groups.codes, radius)
        return self._tables[radius]


def new_pairs(index: HammingIndex, new_ids, new_codes, radius: int):
    """Pairs of the new codes against the index and among themselves (a < b, each once); then add them."""
    new_ids, new_codes = _as_arrays(new_ids, new_codes)
    qa, qb, qd = index.query(new_ids, new_codes, radius)
    sa, sb, sd = all_pairs(new_ids, new_codes, radius)
    index.add(new_ids, new_codes)
    a, b, d = _orient(np.r_[qa, sa], np.r_[qb, sb], np.r_[qd, sd])
    return _sorted(a, b, d)
