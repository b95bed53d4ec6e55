"""Candidate pair search: new images against every fingerprinted image, through long-lived indexes.

Each image has *primary* codes (its pHash, and its pHash after trimming a uniform border) and
*variant* codes (the pHashes of its 7 other orientations and of its overlapping regions). Two images
are a candidate pair when a primary code of one is near a primary code of the other (a copy, a
rescan, a bordered copy), or a primary code of one is near a variant code of the other (a rotated,
mirrored or cropped copy). For a batch of new images three index queries cover every such pair that
involves at least one of them:

    new primary -> all primary,   new primary -> all variant,   new variant -> all primary

(the fourth, old primary -> new variant, is the third read backwards).

Work proportional to what is new. Each worker process keeps a LiveIndex in memory for its life: loaded
once, then before every search it reads only the fingerprints committed since it last looked, by
Fingerprint.seq (assigned under a lock held to commit, so seq order is commit order: a reader that has
seen seq n has seen everything below). A batch then costs its own query, and the codes of the images it
pairs with, never a reload of the archive. The index only proposes: every candidate is checked again on
the codes read from the database, so a stale entry (a re-fingerprinted image) costs a candidate, never a
false pair.

Recall does not depend on how work is split. A batch's fingerprints commit before its search starts, so
of two images searched at the same time in different batches, the one searched later sees the other.

Shards. With MASTERCOPY_INDEX_SHARDS = S > 1, shard k holds the images with id % S == k and is owned by
the Celery queue ``mastercopy-index-k``; a batch is searched against every shard by one task per shard
(fan-out), each storing the pairs it finds and setting its bit in Fingerprint.shards_searched; an image
is searched when every shard has done it. A pair of two images of the same batch is found from both of
their shards and kept by one (the one that indexed the larger id), so the pairs are those of one shard.
"""

import logging
import threading
import time

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Mod

from catalogue.models import ImageFile

from .index import HammingIndex, dedupe_pairs
from .models import ORIENTATIONS_STORED, CandidatePair, Fingerprint, from_db, unpack_codes

log = logging.getLogger(__name__)

_CHUNK = 20_000  # fingerprints per database round trip while loading an index
_ROW = ("phash", "dhash", "primary_codes", "variant_codes")


def thresholds():
    return settings.MASTERCOPY_THRESHOLDS


def shard_count():
    return max(1, settings.MASTERCOPY_INDEX_SHARDS)


def shard_queue(shard):
    return f"mastercopy-index-{shard}"


class _Item:
    """One image's codes, for the per-signal distances of a candidate pair."""

    __slots__ = ("phash", "dhash", "trimmed", "orients", "crops")

    def __init__(self, phash, dhash, primary, variant):
        primary, variant = unpack_codes(primary), unpack_codes(variant)
        self.phash, self.dhash = from_db(phash), from_db(dhash)
        self.trimmed = int(primary[1]) if len(primary) > 1 else None
        self.orients = variant[:ORIENTATIONS_STORED].tolist()
        self.crops = variant[ORIENTATIONS_STORED:].tolist()


def items(ids):
    """{image id: _Item} for those of the given images that have a fingerprint."""
    ids, out = sorted(set(ids)), {}
    for start in range(0, len(ids), 5000):
        rows = Fingerprint.objects.filter(image_id__in=ids[start : start + 5000])
        for image_id, *row in rows.values_list("image_id", *_ROW):
            out[image_id] = _Item(*row)
    return out


class _Arrays:
    """(ids, codes) of the primary and of the variant codes of many fingerprints, built chunk by chunk."""

    def __init__(self):
        self.parts = {"primary": [], "variant": []}

    def put(self, rows):
        """rows: (image_id, primary bytes, variant bytes)."""
        if not rows:
            return
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        for column, kind in ((1, "primary"), (2, "variant")):
            blobs = [r[column] for r in rows]
            counts = np.fromiter((len(b) // 8 for b in blobs), np.int64, len(blobs))
            codes = np.frombuffer(b"".join(blobs), dtype="<u8").astype(np.uint64)
            self.parts[kind].append((np.repeat(ids, counts), codes))

    def get(self, kind):
        parts = self.parts[kind]
        if not parts:
            return np.empty(0, np.int64), np.empty(0, np.uint64)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _read(queryset):
    arrays, chunk = _Arrays(), []
    for row in queryset.values_list("image_id", "primary_codes", "variant_codes").iterator(chunk_size=_CHUNK):
        chunk.append(row)
        if len(chunk) == _CHUNK:
            arrays.put(chunk)
            chunk = []
    arrays.put(chunk)
    return arrays


class LiveIndex:
    """The codes of every fingerprint of one shard, kept for the life of the process and brought up to
    date from Fingerprint.seq before each query (see the module docstring)."""

    def __init__(self, shard=0, shards=1):
        self.shard, self.shards = shard, shards
        self._lock = threading.Lock()
        self._reset()

    def _reset(self):
        self.primary, self.variant = HammingIndex(), HammingIndex()
        self.cursor, self.cursor_row, self.images = 0, None, 0

    def _stale(self):
        """The database no longer holds what was read (restored from a backup, or a test rolled back)."""
        if not self.cursor:
            return False
        # The image and the moment it was fingerprinted: a database restored or rolled back to an earlier
        # state can hold the same seq and image id again, never the same row written at the same moment.
        image_id, computed_at = self.cursor_row
        return not Fingerprint.objects.filter(
            seq=self.cursor, image_id=image_id, computed_at=computed_at
        ).exists()

    def refresh(self):
        """Read the fingerprints committed since the last refresh; returns how many were read."""
        with self._lock:
            newest = Fingerprint.objects.filter(seq__isnull=False).order_by("-seq")
            top = newest.values_list("seq", "image_id", "computed_at").first()
            if self._stale() or top is None:
                self._reset()
            if top is None or top[0] == self.cursor:
                return 0
            rows = Fingerprint.objects.filter(seq__gt=self.cursor, seq__lte=top[0])
            if self.shards > 1:
                rows = rows.annotate(shard=Mod("image_id", self.shards)).filter(shard=self.shard)
            arrays = _read(rows.order_by("seq"))
            self.primary.add(*arrays.get("primary"))
            self.variant.add(*arrays.get("variant"))
            read = len(np.unique(arrays.get("primary")[0]))
            self.images += read
            self.cursor, self.cursor_row = top[0], top[1:]
            return read

    def prepare(self, limits):
        """Build the query tables now rather than in the first batch."""
        with self._lock:
            self.primary.prepare(max(limits["phash"], limits["border"]))
            for index in (self.primary, self.variant):
                index.prepare(max(limits["orientation"], limits["crop"]))

    def candidates(self, new_ids, limits):
        """(query ids, indexed ids) of every pair of a new image with an image of this shard within the
        index radii (not yet checked on the database's codes)."""
        queries = _read(Fingerprint.objects.filter(image_id__in=list(new_ids)))
        (np_ids, np_codes), (nv_ids, nv_codes) = queries.get("primary"), queries.get("variant")
        variant_radius = max(limits["orientation"], limits["crop"])
        with self._lock:
            found = [
                self.primary.query(np_ids, np_codes, max(limits["phash"], limits["border"])),
                self.variant.query(np_ids, np_codes, variant_radius),
                self.primary.query(nv_ids, nv_codes, variant_radius),
            ]
        return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])


_LIVE = {}
_LIVE_LOCK = threading.Lock()


def live_index(shard=0, shards=None):
    """This process's index of one shard, created (and loaded) on first use."""
    shards = shards or shard_count()
    key = (connection.alias, connection.settings_dict["NAME"], shard, shards)
    with _LIVE_LOCK:
        if key not in _LIVE:
            _LIVE[key] = LiveIndex(shard, shards)
        return _LIVE[key]


def warm(queues):
    """Load the index of every shard the given queues serve, and build its tables, so that a worker's
    first batch does not pay for them (a worker process calls it when it starts)."""
    started, shards = time.perf_counter(), shard_count()
    if shards > 1:
        wanted = [k for k in range(shards) if shard_queue(k) in queues]
    else:
        wanted = [0] if settings.CELERY_TASK_DEFAULT_QUEUE in queues else []
    if wanted:
        _load_kernels()
    for shard in wanted:
        index = live_index(shard, shards)
        index.refresh()
        index.prepare(thresholds())
        seconds = time.perf_counter() - started
        log.info("index of shard %d ready: %d images in %.1f s", shard, index.images, seconds)
    return wanted


def _load_kernels():
    """Query a throwaway index of a few codes at the search radii, so the query kernels are compiled (or
    read from numba's cache) now: an empty or small archive builds no table when warming, and its first
    batch paid ~10 s for this (bench/scale.py at N = 0)."""
    started, limits = time.perf_counter(), thresholds()
    codes = np.random.default_rng(0).integers(0, 2**63, 64).astype(np.uint64)
    ids = np.arange(len(codes), dtype=np.int64)
    scratch = HammingIndex(ids, codes)
    for radius in {max(limits["phash"], limits["border"]), max(limits["orientation"], limits["crop"])}:
        scratch.query(ids, codes, radius)
    log.info("search kernels loaded in %.1f s", time.perf_counter() - started)


def _ham(a, b):
    return (a ^ b).bit_count()


def _nearest(codes, targets, default=None):
    return min((_ham(c, t) for c in codes for t in targets), default=default)


def _either_way(mine, theirs, x_phash, y_phash):
    """Closest of my variant codes to their pHash, or their variant codes to my pHash (64 if none)."""
    return min(_nearest(mine, [y_phash], 64), _nearest([x_phash], theirs, 64))


def distances(x, y):
    """Per-signal distances of two images' fingerprints (None where a signal does not apply)."""
    border = None
    if x.trimmed is not None or y.trimmed is not None:
        border = _nearest(
            [c for c in (x.trimmed,) if c is not None] + [x.phash],
            [c for c in (y.trimmed,) if c is not None] + [y.phash],
        )
    return {
        "phash_distance": _ham(x.phash, y.phash),
        "dhash_distance": _ham(x.dhash, y.dhash),
        "orientation_distance": _either_way(x.orients, y.orients, x.phash, y.phash),
        "border_distance": border,
        "crop_distance": _either_way(x.crops, y.crops, x.phash, y.phash),
    }


def within(d, limits):
    return (
        d["phash_distance"] <= limits["phash"]
        or d["orientation_distance"] <= limits["orientation"]
        or (d["border_distance"] is not None and d["border_distance"] <= limits["border"])
        or d["crop_distance"] <= limits["crop"]
    )


def score(d, same_bytes):
    """1.0 for the same bytes; otherwise falls with the closest signal's distance (0 at 32 bits)."""
    if same_bytes:
        return 1.0
    signals = ("phash_distance", "orientation_distance", "border_distance", "crop_distance")
    best = min(d[name] for name in signals if d[name] is not None)
    return round(max(0.0, 1.0 - best / 32), 4)


def candidate_ids(index, new_ids, limits):
    """(a, b) id arrays, a < b, of the pairs of new images with images of the index's shard. A pair of
    two new images is found from both of their shards; the one that indexed the larger id keeps it."""
    q, t = index.candidates(new_ids, limits)
    keep = q != t
    if index.shards > 1:
        batch = np.asarray(sorted(new_ids), dtype=np.int64)
        keep &= ~(np.isin(q, batch) & np.isin(t, batch) & (q > t))
    a, b, _ = dedupe_pairs(q[keep], t[keep], np.zeros(int(keep.sum()), np.int64))
    return a, b


def search_images(image_ids, shard=0, shards=None):
    """Search the given (fingerprinted) images against one shard (all images when unsharded); store the
    new pairs and mark the images searched by this shard. Returns how many pairs were added."""
    shards = shards or shard_count()
    started = time.perf_counter()
    index = live_index(shard, shards)
    read = index.refresh()
    caught_up = time.perf_counter() - started
    if read > 10_000:
        log.info("index of shard %d loaded: %d images in %.1f s", shard, read, caught_up)
    started = time.perf_counter()
    new_ids = list(Fingerprint.objects.filter(image_id__in=image_ids).values_list("image_id", flat=True))
    if not new_ids:
        return 0
    limits = thresholds()
    a, b = candidate_ids(index, new_ids, limits)
    queried = time.perf_counter()
    codes = items(set(a.tolist()) | set(b.tolist()))
    shas = dict(ImageFile.objects.filter(pk__in=list(codes)).values_list("pk", "sha256"))
    pairs = []
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        if x not in codes or y not in codes:
            continue  # gone from the database since the index read it
        d = distances(codes[x], codes[y])
        same = shas.get(x) is not None and shas.get(x) == shas.get(y)
        if same or within(d, limits):
            tier = CandidatePair.Tier.AUTO if same else CandidatePair.Tier.REVIEW
            pairs.append(
                CandidatePair(
                    image_a_id=x, image_b_id=y, same_bytes=same, score=score(d, same), tier=tier, **d
                )
            )
    checked = time.perf_counter()
    touching = CandidatePair.objects.filter(Q(image_a__in=new_ids) | Q(image_b__in=new_ids))
    with transaction.atomic():
        before = touching.count()  # the batch's own pairs: an indexed look-up, not the whole table
        # ignore_conflicts: a pair found before keeps its row, its tier and its decisions untouched.
        CandidatePair.objects.bulk_create(pairs, ignore_conflicts=True, batch_size=1000)
        mine = Fingerprint.objects.filter(image_id__in=new_ids)
        mine.update(shards_searched=F("shards_searched").bitor(1 << shard))
        mine.filter(shards_searched=(1 << shards) - 1).update(searched=True)
        added = touching.count() - before
    done = time.perf_counter()
    # Where a slow batch's time went: the index query, checking its candidates on the database's codes,
    # storing the pairs, and (before the clock started) catching up with fingerprints committed since.
    log.info(
        "searched %d images (shard %d of %d) in %.2f s: %d new pairs (query %.2f s, %d candidates checked in"
        " %.2f s, stored in %.2f s; caught up %d fingerprints in %.2f s before)",
        len(new_ids), shard, shards, done - started, added, queried - started, len(a), checked - queried,
        done - checked, read, caught_up,
    )  # fmt: skip
    return added


def unsearched_ids(collection=None, shard=None, shards=None):
    """Fingerprinted images not searched yet (by the given shard, when one is named)."""
    fingerprints = Fingerprint.objects.filter(searched=False)
    if collection is not None:
        fingerprints = fingerprints.filter(image__collection=collection)
    if shard is not None:
        bit = 1 << shard
        fingerprints = fingerprints.annotate(done=F("shards_searched").bitand(bit)).filter(done=0)
    return list(fingerprints.order_by("image_id").values_list("image_id", flat=True))

