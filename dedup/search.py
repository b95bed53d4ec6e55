"""Candidate pair search: new images against every fingerprinted image, through the Hamming index.

Each image has *primary* codes (its pHash, and its pHash after trimming a uniform border) and
*variant* codes (the pHashes of its 7 other orientations and of its overlapping regions). Two images
are a candidate pair when a primary code of one is near a primary code of the other (a copy, a
rescan, a bordered copy), or a primary code of one is near a variant code of the other (a rotated,
mirrored or cropped copy). For a batch of new images three index queries cover every such pair that
involves at least one of them:

    new primary -> all primary,   new primary -> all variant,   new variant -> all primary

(the fourth, old primary -> new variant, is the third read backwards). Every image already in the
database is in the index, including other new images of a batch running at the same time, so the
result does not depend on how the work is split between tasks or workers.
"""

import numpy as np
from django.conf import settings
from django.db import transaction

from catalogue.models import ImageFile

from .groups import build_groups
from .index import HammingIndex, dedupe_pairs
from .models import CandidateGroup, CandidatePair, Fingerprint, from_db

_FIELDS = ("image_id", "phash", "dhash", "trimmed_phash", "orient_phashes", "crop_hashes")


def thresholds():
    return settings.MASTERCOPY_THRESHOLDS


class Codes:
    """Every fingerprinted image's codes, as numpy arrays ready for the index."""

    def __init__(self, rows):
        self.by_id = {}
        primary_ids, primary, variant_ids, variant = [], [], [], []
        for image_id, phash, dhash, trimmed, orients, crops in rows:
            item = _Item(from_db(phash), from_db(dhash), from_db(trimmed), orients, crops)
            self.by_id[image_id] = item
            for code in item.primary:
                primary_ids.append(image_id)
                primary.append(code)
            for code in item.variant:
                variant_ids.append(image_id)
                variant.append(code)
        self.primary = (np.array(primary_ids, dtype=np.int64), np.array(primary, dtype=np.uint64))
        self.variant = (np.array(variant_ids, dtype=np.int64), np.array(variant, dtype=np.uint64))

    @classmethod
    def load(cls):
        return cls(Fingerprint.objects.values_list(*_FIELDS).iterator(chunk_size=5000))

    def subset(self, ids):
        """Primary and variant (ids, codes) of the given images only."""
        wanted = np.array(sorted(ids), dtype=np.int64)
        masks = [(ids_, codes, np.isin(ids_, wanted)) for ids_, codes in (self.primary, self.variant)]
        return tuple((ids_[mask], codes[mask]) for ids_, codes, mask in masks)


class _Item:
    __slots__ = ("phash", "dhash", "trimmed", "orients", "crops")

    def __init__(self, phash, dhash, trimmed, orients, crops):
        self.phash, self.dhash, self.trimmed = phash, dhash, trimmed
        self.orients = [int(code, 16) for code in orients[1:]]  # [0] is the upright pHash itself
        self.crops = [int(code, 16) for code in crops]

    @property
    def primary(self):
        return [self.phash] if self.trimmed is None else [self.phash, self.trimmed]

    @property
    def variant(self):
        return self.orients + self.crops


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


def candidate_ids(codes, new_ids, limits):
    """(a, b) id arrays, a < b, of every pair involving a new image within the index radii."""
    (np_ids, np_codes), (nv_ids, nv_codes) = codes.subset(new_ids)
    primary = HammingIndex(*codes.primary)
    variant_radius = max(limits["orientation"], limits["crop"])
    found = [primary.query(np_ids, np_codes, max(limits["phash"], limits["border"]))]
    if len(codes.variant[0]):
        found.append(HammingIndex(*codes.variant).query(np_ids, np_codes, variant_radius))
    if len(nv_ids):
        found.append(primary.query(nv_ids, nv_codes, variant_radius))
    a = np.concatenate([f[0] for f in found])
    b = np.concatenate([f[1] for f in found])
    d = np.concatenate([f[2] for f in found])
    keep = a != b
    a, b, _ = dedupe_pairs(a[keep], b[keep], d[keep])
    return a, b


def search_images(image_ids, codes=None):
    """Search the given (fingerprinted) images; store new pairs; returns how many pairs were added."""
    codes = codes or Codes.load()
    new_ids = [i for i in image_ids if i in codes.by_id]
    if not new_ids:
        return 0
    limits = thresholds()
    a, b = candidate_ids(codes, new_ids, limits)
    shas = dict(
        ImageFile.objects.filter(pk__in=set(a.tolist()) | set(b.tolist())).values_list("pk", "sha256")
    )
    pairs = []
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        d = distances(codes.by_id[x], codes.by_id[y])
        same = shas.get(x) is not None and shas.get(x) == shas.get(y)
        if same or within(d, limits):
            tier = CandidatePair.Tier.AUTO if same else CandidatePair.Tier.REVIEW
            pairs.append(
                CandidatePair(
                    image_a_id=x, image_b_id=y, same_bytes=same, score=score(d, same), tier=tier, **d
                )
            )
    with transaction.atomic():
        before = CandidatePair.objects.count()
        # ignore_conflicts: a pair found before keeps its row, its tier and its decisions untouched.
        CandidatePair.objects.bulk_create(pairs, ignore_conflicts=True, batch_size=1000)
        Fingerprint.objects.filter(image_id__in=new_ids).update(searched=True)
        return CandidatePair.objects.count() - before


def unsearched_ids(collection=None):
    fingerprints = Fingerprint.objects.filter(searched=False)
    if collection is not None:
        fingerprints = fingerprints.filter(image__collection=collection)
    return list(fingerprints.order_by("image_id").values_list("image_id", flat=True))


def keep_best_rank(images):
    """The default keep-best rule: most pixels, then the larger file, then the earliest import."""
    return {i.pk: (i.width * i.height, i.size, -i.pk) for i in images}


def rebuild_groups():
    """Recompute candidate groups from every pair not rejected by verification."""
    links = list(
        CandidatePair.objects.exclude(tier=CandidatePair.Tier.REJECTED).values_list(
            "pk", "image_a_id", "image_b_id"
        )
    )
    ids = {x for _, a, b in links for x in (a, b)}
    ranks = keep_best_rank(ImageFile.objects.filter(pk__in=ids).only("pk", "width", "height", "size"))
    groups = build_groups([(a, b) for _, a, b in links], ranks.__getitem__)
    with transaction.atomic():
        CandidatePair.objects.update(group=None)
        CandidateGroup.objects.all().delete()
        member_of, pairs_of = {}, {}
        for master, members in groups:
            group = CandidateGroup.objects.create(master_id=master)
            group.members.set(members)
            member_of.update(dict.fromkeys(members, group.pk))
        for pk, a, b in links:
            if member_of.get(a) is not None and member_of.get(a) == member_of.get(b):
                pairs_of.setdefault(member_of[a], []).append(pk)
        for group_id, pks in pairs_of.items():
            CandidatePair.objects.filter(pk__in=pks).update(group_id=group_id)
    return len(groups)
