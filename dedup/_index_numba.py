"""Compiled inner loops of dedup.index (optional: the numpy path gives identical results).

The multi-index probe loop does a few cheap operations per (key, mask): a bit test in an L2-resident
occupancy bitmap and, rarely, a bucket scan.  Vectorised numpy must materialise every probe in
memory (~10 passes over arrays of probes), which is what makes it 5-10x slower; here each probe is a
couple of nanoseconds.  Kernels are ``nogil`` so the caller runs units of work on a thread pool.
"""

import numpy as np
from numba import njit

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@njit(inline="always")
def _popcount(x):
    # The SWAR idiom is recognised by LLVM and compiled to a single popcnt instruction.
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


@njit(inline="always")
def _first_here(x, prev_masks, prev_radii):
    """True unless an earlier substring also qualifies (then the pair is reported there)."""
    for j in range(prev_masks.shape[0]):  # noqa: SIM110 - no generators in numba kernels
        if _popcount(x & prev_masks[j]) <= prev_radii[j]:
            return False
    return True


@njit(inline="always")
def _push(buf, n, a, b, d):
    if n == buf.shape[1]:
        bigger = np.empty((3, 2 * n + 1024), np.int64)
        bigger[:, :n] = buf[:, :n]
        buf = bigger
    buf[0, n] = a
    buf[1, n] = b
    buf[2, n] = d
    return buf


@njit(nogil=True, cache=True)
def same_key_pairs(keys, start, count, codes, order, radius, prev_masks, prev_radii):
    """Pairs inside each bucket of ``keys`` (codes sharing this substring's key)."""
    buf = np.empty((3, 1024), np.int64)
    n = 0
    for k in range(keys.shape[0]):
        su = start[keys[k]]
        cu = count[keys[k]]
        for p in range(su, su + cu):
            for q in range(p + 1, su + cu):
                x = codes[p] ^ codes[q]
                d = _popcount(x)
                if d <= radius and _first_here(x, prev_masks, prev_radii):
                    buf = _push(buf, n, order[p], order[q], d)
                    n += 1
    return buf[:, :n]


@njit(nogil=True, cache=True)
def blocked_join(
    blocks,
    block_start,
    ukeys,
    ustart,
    ucount,
    high,
    high_top,
    low,
    low_top,
    low_end,
    low_bits,
    start,
    count,
    codes,
    order,
    radius,
    prev_masks,
    prev_radii,
):
    """Every unordered pair of distinct-code buckets whose keys differ by a mask of weight <= r.

    Cache blocking is what makes this fast: keys are cut into blocks of ``2**low_bits``
    consecutive values; for a row block ``rb`` and a high mask part ``fh`` every probe lands in the
    one target block ``rb ^ fh``, whose dense ``start``/``count`` windows and codes stay in L2 while
    all low mask parts are applied.  Probing key-major instead (random jumps over 2**22-entry
    tables) was memory-bound at ~10-15 ns per probe.

    Each unordered bucket pair is visited once: for ``fh != 0`` only from the block whose bit at
    fh's highest bit is 0, for ``fh == 0`` only from the key whose bit at the low mask's highest
    bit is 0.  ``low_end[w]``: number of low parts of weight <= w (low sorted by weight).
    """
    buf = np.empty((3, 1024), np.int64)
    n = 0
    for bi in range(blocks.shape[0]):
        rb = blocks[bi]
        r0 = block_start[rb]
        r1 = block_start[rb + 1]
        if r0 == r1:
            continue
        for j in range(high.shape[0]):
            fh = high[j]
            wh = high_top[j, 1]
            if fh != 0 and (rb >> high_top[j, 0]) & 1:
                continue
            tb = rb ^ fh
            if block_start[tb] == block_start[tb + 1]:
                continue
            base = fh << low_bits
            for li in range(low_end[wh]):
                fl = low[li]
                if fh == 0 and fl == 0:
                    continue
                f = base | fl
                htop = low_top[li]
                for k in range(r0, r1):
                    u = ukeys[k]
                    if fh == 0 and (u >> htop) & 1:
                        continue
                    t = u ^ f
                    ct = count[t]
                    if ct == 0:
                        continue
                    st = start[t]
                    su = ustart[k]
                    for p in range(su, su + ucount[k]):
                        cp = codes[p]
                        for q in range(st, st + ct):
                            x = cp ^ codes[q]
                            d = _popcount(x)
                            if d <= radius and _first_here(x, prev_masks, prev_radii):
                                buf = _push(buf, n, order[p], order[q], d)
                                n += 1
    return buf[:, :n]


@njit(nogil=True, cache=True)
def query_blocked(
    qblock_start,
    qkeys,
    qcodes,
    high,
    high_top,
    low,
    low_end,
    low_bits,
    occ_bits,
    multi_bits,
    code_table,
    start,
    count,
    codes,
    order,
    radius,
    prev_masks,
    prev_radii,
):
    """(query index, code index, distance) for key-sorted queries against one substring.

    Same cache blocking as ``blocked_join`` (queries take the place of the row keys, every mask
    including 0 is probed, no symmetry): a query-major loop missed the cache on nearly every probe
    (~2 s for 10k queries against 1M codes).  Single-code buckets are answered from ``code_table``,
    multi-code buckets (``multi_bits``) scan start/count.
    """
    buf = np.empty((3, 1024), np.int64)
    n = 0
    for rb in range(qblock_start.shape[0] - 1):
        r0 = qblock_start[rb]
        r1 = qblock_start[rb + 1]
        if r0 == r1:
            continue
        for j in range(high.shape[0]):
            for li in range(low_end[high_top[j, 1]]):
                f = (high[j] << low_bits) | low[li]
                for k in range(r0, r1):
                    t = qkeys[k] ^ f
                    cq = qcodes[k]
                    if (occ_bits[t >> 6] >> (t & 63)) & 1 == 0:
                        continue
                    if (multi_bits[t >> 6] >> (t & 63)) & 1 == 0:
                        x = cq ^ code_table[t]
                        d = _popcount(x)
                        if d <= radius and _first_here(x, prev_masks, prev_radii):
                            buf = _push(buf, n, k, order[start[t]], d)
                            n += 1
                        continue
                    st = start[t]
                    for q in range(st, st + count[t]):
                        x = cq ^ codes[q]
                        d = _popcount(x)
                        if d <= radius and _first_here(x, prev_masks, prev_radii):
                            buf = _push(buf, n, k, order[q], d)
                            n += 1
    return buf[:, :n]
