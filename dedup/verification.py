"""Verification of candidate pairs on the images themselves, then the tier rules.

Runs after pair search, in the same batches. Each pair is verified once (``verified``); a rerun skips
it, so the verdicts, tiers and any decisions taken on the pair stick.

An original that storage cannot open is one of two things, and the batch tells them apart:
- one file missing (deleted from the bucket, a half-restored backup) while the others open: the rest of
  the batch is verified; the pair is noted (``open_error``, ``open_error_at``, ``open_attempts``), stays
  unverified and is retried by resume_pending on its own, after waits that double
  (MASTERCOPY_MISSING_RETRY_SECONDS); after MASTERCOPY_MISSING_ATTEMPTS attempts it goes to a person as
  "original missing".
- storage down for everyone (every open fails, and so does a probe of other originals): nothing is noted;
  StorageUnavailable (an OSError) is raised, so the task retries the whole batch as before.
"""

import contextvars
import json
import logging
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from catalogue.models import ImageFile

from . import policy
from .events import pair_for_review, pair_settled, pairs_verified
from .groups import components
from .models import CandidatePair
from .tiers import PairFacts, TierResult, classify

log = logging.getLogger(__name__)


def _storage_errors():
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # no S3 backend installed
        return (OSError,)
    # An unreachable endpoint is a BotoCoreError, not an OSError.
    return (OSError, BotoCoreError, ClientError)


STORAGE_ERRORS = _storage_errors()
PROBES = 3  # other originals tried before one failing open is called an outage


class StorageUnavailable(OSError):
    """Every original a batch tried failed to open, and so did other originals: storage is down."""


class _Unopenable(Exception):
    """One original could not be fetched; carries the image and storage's own error."""

    def __init__(self, image, error):
        super().__init__(f"{image.storage_key}: {error}")
        self.image, self.error = image, error


@transaction.atomic
def _save(pair, **verdict):
    """Store the verdict (_set_verdict's arguments) once; False if another worker verified the pair
    first. The per-pair path (verify_pair, the missing original's last attempt); verify_pairs stores a
    batch's verdicts together (_store)."""
    if CandidatePair.objects.select_for_update().filter(pk=pair.pk, verified=True).exists():
        return False
    fields = _set_verdict(pair, **verdict)
    pair.save(update_fields=[*fields, "updated_at"])
    if pair.tier == CandidatePair.Tier.REVIEW:
        pair_for_review.send(sender=CandidatePair, pair=pair)
    return True


VERDICT_FIELDS = (
    "relation", "relation_params", "explanation", "tier", "tier_reason", "priority", "verified", "inferred",
    "source_side", "derivation",
)  # fmt: skip


def _set_verdict(
    pair, *, relation, params, sentence, tier, reason, priority, inferred=False, source=None, derivation=()
):
    """Put a verdict on the pair in memory; returns the fields that changed. source: the verdict's
    "left"/"right" (image_a/image_b), or None."""
    pair.relation, pair.relation_params, pair.explanation = relation, _plain(params), sentence
    pair.tier, pair.tier_reason, pair.priority, pair.verified = tier, reason[:500], priority, True
    pair.inferred = inferred
    pair.source_side = {"left": CandidatePair.Side.A, "right": CandidatePair.Side.B}.get(source, "")
    pair.derivation = "+".join(derivation)[:200] if pair.source_side else ""
    fields = list(VERDICT_FIELDS)
    if pair.open_error and not reason.startswith("original missing"):
        pair.open_error, pair.open_error_at = "", None  # the original opened after all
        fields += ["open_error", "open_error_at"]
    return fields


def unverified(image_ids=None):
    """Pairs waiting for their first verification (pairs noted with an unopenable original are left to
    retry_due, so they never share a batch with fresh ones)."""
    pairs = CandidatePair.objects.filter(verified=False, open_attempts=0)
    if image_ids is not None:
        pairs = pairs.filter(Q(image_a__in=image_ids) | Q(image_b__in=image_ids))
    rows = pairs.order_by("pk").values_list("pk", "image_a_id", "image_b_id")
    return [pk for cluster in clusters(rows) for pk in cluster]


EXACT_BATCH = 1000  # pairs per verify batch of byte-identical clusters: they settle in bulk, undecoded

# Pairs of one cluster verified in one batch at the most (every pair of 45 copies of a picture: 990). A
# larger cluster is cut, in pair order, into batches of this many; later ones infer from the pairs earlier
# ones verified, but choose hubs of their own. The bound is on planning: verification._plan rescans the
# batch for every hub, so a chain-shaped cluster costs quadratic time in one batch (0.19 s at 1,000 pairs,
# 1.4 s at 4,000 on the bench machine; a 100k-pair chain would plan for minutes), while a batch of
# copies of one picture plans in milliseconds.
CLUSTER_LIMIT = 1000


def verify_batches(size, image_ids=None, exact_size=EXACT_BATCH):
    """unverified()'s pairs cut into verify batches of about size pairs, a cluster never split unless it
    is larger than CLUSTER_LIMIT (its members are compared with one hub and the rest inferred only within
    one batch: cut at 50 or 100 pairs, 16 copies of a picture cost 29 comparisons instead of 15). A
    cluster whose pairs are all byte-identical is settled in bulk without opening storage (settle_exact),
    where a batch's fixed cost (a dozen statements, the chain lock, a regroup) is most of the work: those
    clusters go in batches of about exact_size."""
    pairs = CandidatePair.objects.filter(verified=False, open_attempts=0)
    if image_ids is not None:
        pairs = pairs.filter(Q(image_a__in=image_ids) | Q(image_b__in=image_ids))
    rows = list(pairs.order_by("pk").values_list("pk", "image_a_id", "image_b_id", "same_bytes"))
    exact = {pk for pk, _, _, same in rows if same}
    found = clusters((pk, a, b) for pk, a, b, _ in rows)
    settled = [cluster for cluster in found if all(pk in exact for pk in cluster)]
    compared = [cluster for cluster in found if not all(pk in exact for pk in cluster)]
    return [*packed(settled, exact_size), *packed(compared, size, CLUSTER_LIMIT)]


def clusters(rows):
    """Pair ids from (pk, image_a, image_b) rows, in lists of one cluster of images each, so that batches
    cut from them keep a picture's copies together (decoded once, inferred)."""
    rows = list(rows)
    cluster = {}
    for members in components([(a, b) for _, a, b in rows]):
        for image in members:
            cluster[image] = members[0]
    found = defaultdict(list)
    for pk, a, _ in rows:
        found[cluster[a]].append(pk)
    return [found[key] for key in sorted(found)]


def packed(pair_clusters, size, limit=None):
    """Batches of about size pair ids, a cluster never split unless it alone is larger than limit
    (default size): then cut, in its order, into pieces of limit."""
    limit = max(size, limit or size)
    batch = []
    for cluster in pair_clusters:
        if batch and len(batch) + len(cluster) > size:
            yield batch
            batch = []
        batch.extend(cluster)
        while len(batch) > limit:
            yield batch[:limit]
            batch = batch[limit:]
    if batch:
        yield batch


def retry_due(now=None):
    """Noted pairs whose wait is over: MASTERCOPY_MISSING_RETRY_SECONDS after the first failed attempt,
    doubling with each further one."""
    now = now or timezone.now()
    base = settings.MASTERCOPY_MISSING_RETRY_SECONDS
    noted = CandidatePair.objects.filter(verified=False, open_attempts__gt=0).order_by("pk")
    return [
        pk
        for pk, attempts, at in noted.values_list("pk", "open_attempts", "open_error_at")
        if at is None or at + timedelta(seconds=base * 2 ** (attempts - 1)) <= now
    ]


def open_problems(collection):
    """The collection's pairs with an original storage could not open: waiting for a retry, or sent to
    a person as "original missing" (for the collection page)."""
    return (
        CandidatePair.objects.filter(Q(image_a__collection=collection) | Q(image_b__collection=collection))
        .exclude(open_error="")
        .select_related("image_a", "image_b")
        .order_by("-open_error_at")
    )


class _Batch:
    """Fetches a batch's originals and tells one missing file from storage that is down."""

    def __init__(self, pairs):
        self.pairs = pairs
        self.answered = None  # a key storage opened during this batch

    def fetch(self, image):
        try:
            with default_storage.open(image.storage_key, "rb") as stored:
                data = stored.read()
        except STORAGE_ERRORS as exc:
            raise _Unopenable(image, exc) from exc
        self.answered = image.storage_key
        return data

    def storage_answers(self, failed):
        """Whether storage still opens another original than the failing one: the one that opened last,
        or else other originals of the batch and the archive."""
        if self.answered is not None:
            return self._opens(self.answered)
        for key in self._probe_keys(failed)[:PROBES]:
            if self._opens(key):
                self.answered = key
                return True
        return False

    def _probe_keys(self, failed):
        keys = []
        for pair in self.pairs:
            for image in (pair.image_a, pair.image_b):
                if image.storage_key not in keys and image.storage_key not in failed:
                    keys.append(image.storage_key)
        if len(keys) < PROBES:
            others = ImageFile.objects.filter(state=ImageFile.State.READY).exclude(storage_key__in=failed)
            recent = others.order_by("-pk").values_list("storage_key", flat=True)[:PROBES]
            keys += [key for key in recent if key not in keys]
        return keys

    @staticmethod
    def _opens(key):
        try:
            with default_storage.open(key, "rb"):
                return True
        except STORAGE_ERRORS:
            return False


def verify_pairs(pair_ids, on_progress=None):
    """Verify the pairs that still wait; returns how many were noted with an original storage could not
    open. Raises StorageUnavailable when storage is down for the whole batch (nothing is noted then).

    Work in proportion to what is new: byte-identical pairs settle from their digests alone (no storage,
    no decoding); the others go star by star (see _plan): each member of a cluster is compared with the
    cluster's hub once, and a pair of two members that both show the hub's picture is inferred from those
    two comparisons (``inferred``), so a picture with k copies costs about k comparisons, not k(k-1)/2.
    Decoded images are cached for the batch, and the order makes them repeat. The verdicts are worked
    out first and stored together (_write: a few statements per transaction of EXACT_CHUNK pairs,
    whatever their number), before the unopenable pairs are noted, and also when the batch stops on
    an outage (so a retry does not compare them again)."""
    pairs = list(
        CandidatePair.objects.filter(pk__in=pair_ids, verified=False)
        .select_related("image_a__record", "image_b__record", "image_a__collection", "image_b__collection")
        # the keep-best rule reads each image's quality facts (dedup.policy.quality_facts)
        .select_related("image_a__fingerprint", "image_b__fingerprint")
        .order_by("pk")
    )
    started = time.perf_counter()
    exact = [pair for pair in pairs if pair.same_bytes]
    settle_exact(exact, on_progress)
    _count("exact", len(exact), started)
    rest = [pair for pair in pairs if not pair.same_bytes]
    batch, cache, unopenable = _Batch(rest), _side_cache(), []
    legs = _Legs(rest)
    with _batch_writes():
        for pair, hub in _plan(rest, legs.legs):
            started = time.perf_counter()
            if hub is not None and legs.infer(pair, hub):
                _count("inferred", 1, started)
            else:
                try:
                    _verify(pair, batch.fetch, cache)
                except _Unopenable as failure:
                    unopenable.append((pair, failure))
                    if not batch.storage_answers({f.image.storage_key for _, f in unopenable}):
                        raise StorageUnavailable(f"storage is not answering ({failure})") from failure.error
                    continue
                legs.add(pair)
                _count("compared", 1, started)
            if on_progress:
                on_progress()
    if unopenable and not batch.storage_answers({f.image.storage_key for _, f in unopenable}):
        raise StorageUnavailable(f"storage stopped answering ({unopenable[-1][1]})")
    for pair, failure in unopenable:
        note_unopenable(pair, failure.image, failure.error)
        if on_progress:
            on_progress()
    return len(unopenable)


# Verdicts stored per transaction (byte-identical pairs, and a verify batch's others). The chain lock is
# held for one (about 0.4 s for 250 exact copies on the loaded bench machine), so a person's decision
# meanwhile waits that long at most; 250 settled as fast as 1,000 there (bench/exact.py --chunk).
EXACT_CHUNK = 250

# Inside verify_pairs: the batch's _Writes, which _apply hands its verdicts to instead of storing them.
_WRITES = contextvars.ContextVar("verification_writes", default=None)


class _Writes:
    """A batch's verdicts, put on their pairs in memory as they are found (the hub logic reads them there,
    _Legs.add) and stored together (_write)."""

    def __init__(self):
        self.planned = []

    def add(self, pair, result, **verdict):
        _set_verdict(pair, tier=result.tier, reason=result.reason, priority=result.priority, **verdict)
        # As _apply suggests it after _save: from the verdict just put on the pair (its direction).
        self.planned.append((pair, result, policy.suggest_master(pair) if result.settle else None))


@contextmanager
def _batch_writes():
    """_apply's verdicts kept while the block runs, then stored; also when it raises (an outage: what
    was verified stays verified)."""
    writes = _Writes()
    token = _WRITES.set(writes)
    try:
        yield writes
    finally:
        _WRITES.reset(token)
        started = time.perf_counter()
        _write(writes.planned)
        _count("stored", len(writes.planned), started)


def settle_exact(pairs, on_progress=None, chunk=None):
    """Byte-identical pairs in bulk, with the outcome _apply gives each in turn (the per-pair path,
    settle_exact_one): the same verdict, tier and reason on each pair, and the same system decisions,
    queue items and catalogue changes in the same order (_write)."""
    writes = _Writes()
    for pair in pairs:
        writes.add(pair, classify(facts_for(pair, _identical())), **_verdict_fields(_identical()))
    _write(writes.planned, on_progress, chunk)


def _write(planned, on_progress=None, chunk=None):
    """Store planned verdicts ((pair, tier result, suggested master or None), the verdict on the pair)
    per chunk of pairs, one transaction each: the verdicts with an UPDATE per distinct verdict shared by
    several pairs and one bulk UPDATE for the others (_store), then pairs_verified hands the lot to the
    review app, which settles and queues them with set-based writes (review.exact), with the outcome
    pair_settled and pair_for_review would have had pair by pair. A pair another worker verified
    meanwhile is left alone, as _save leaves it."""
    chunk = chunk or EXACT_CHUNK
    for start in range(0, len(planned), chunk):
        part = planned[start : start + chunk]
        with transaction.atomic():
            entries = _store(part)
            if entries:
                pairs_verified.send(sender=CandidatePair, entries=entries)
        if on_progress:
            for _ in part:
                on_progress()


def _store(planned):
    """Store the verdicts of still unverified pairs (locked first, in id order); returns pairs_verified's
    entries for them, by pair id: (pair, master image, reason) for a pair the tier rules settle, (pair,
    None, reason) for one they put in the review tier."""
    waiting = CandidatePair.objects.select_for_update().filter(
        pk__in=[pair.pk for pair, _, _ in planned], verified=False
    )
    ids = set(waiting.order_by("pk").values_list("pk", flat=True))
    stored, entries = [], []
    for pair, result, suggestion in sorted(planned, key=lambda row: row[0].pk):
        if pair.pk not in ids:
            continue
        stored.append(pair)
        if suggestion is not None:
            entries.append((pair, suggestion.image, f"{result.reason}; {suggestion.reason}"))
        elif result.tier == CandidatePair.Tier.REVIEW:
            entries.append((pair, None, result.reason))
    _update(stored, [*VERDICT_FIELDS, "open_error", "open_error_at", "updated_at"])
    return entries


def _update(pairs, names):
    """Write these fields of the pairs as they are in memory (updated_at: now): one UPDATE from a VALUES
    list on PostgreSQL (bulk_update's CASE for a few hundred pairs cost as much Python as the per-pair
    saves it replaced); elsewhere one executemany (SQLite runs in the process: no round trips)."""
    if not pairs:
        return
    now = timezone.now()
    fields = [CandidatePair._meta.get_field(name) for name in names]
    rows = []
    for pair in pairs:
        pair.updated_at = now
        rows.append([field.get_db_prep_save(getattr(pair, field.attname), connection) for field in fields])
    table = CandidatePair._meta.db_table
    columns = [field.column for field in fields]
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            assignments = ", ".join(f"{column} = %s" for column in columns)
            sql = f"UPDATE {table} SET {assignments} WHERE id = %s"  # noqa: S608 (the model's names)
            cursor.executemany(sql, [[*row, pair.pk] for row, pair in zip(rows, pairs, strict=True)])
            return
        for start in range(0, len(rows), 1000):
            part = list(zip(pairs[start : start + 1000], rows[start : start + 1000], strict=True))
            # Typed by their casts: a first row's NULL (open_error_at) types nothing.
            casts = ", ".join(f"%s::{field.db_type(connection)}" for field in fields)
            values = ", ".join([f"(%s::bigint, {casts})"] * len(part))
            assignments = ", ".join(f"{column} = v.{column}" for column in columns)
            cursor.execute(
                f"UPDATE {table} AS p SET {assignments} "  # noqa: S608 (the model's names)
                f"FROM (VALUES {values}) AS v(id, {', '.join(columns)}) WHERE p.id = v.id",
                [x for pair, row in part for x in (pair.pk, *row)],
            )


def settle_exact_one(pair):
    """The per-pair path for one byte-identical pair (what verify_pairs did before settle_exact; the
    reference the bulk path is tested and benched against)."""
    _apply(pair, _identical())


# Per process: pairs and seconds spent by kind (exact / compared / inferred), for bench/verify.py.
STATS = defaultdict(float)


def _count(kind, n, started):
    STATS[f"{kind}_pairs"] += n
    STATS[f"{kind}_seconds"] += time.perf_counter() - started


def _identical():
    from .verify import Verdict

    return Verdict(["identical"], {}, "Right is a byte-for-byte identical copy of Left.", 1.0, 0)


def _plan(pairs, known=None):
    """(pair, hub) in the order to verify them: per connected cluster, the hub (the image with the most
    pairs, then the most pixels, then the lowest id: the likely master) and its pairs first, then the
    pairs between two of its neighbours, with the hub through which they may be inferred, then the rest
    of the cluster (hub None) the same way. known: verified pairs (frozensets of two image ids) from
    earlier batches, which may serve as spokes too; read as the batch goes (_Legs.legs), so a hub found
    made from one of its neighbours hands over to that source."""
    known = {} if known is None else known
    neighbours = defaultdict(set)
    by_images = {}
    pixels = {i.pk: i.width * i.height for pair in pairs for i in (pair.image_a, pair.image_b)}
    for pair in pairs:
        neighbours[pair.image_a_id].add(pair.image_b_id)
        neighbours[pair.image_b_id].add(pair.image_a_id)
        by_images[frozenset((pair.image_a_id, pair.image_b_id))] = pair
    remaining = dict(by_images)
    preferred = None
    while remaining:
        degree = defaultdict(int)
        for key in remaining:
            for image in key:
                degree[image] += 1
        # The likely master: the most pairs, then the most pixels (the source the others were made from);
        # or the source one of the last hub's pairs found it made from (an upscale or an expanded canvas
        # has the most pixels): the source of sources serves the inference.
        if preferred in degree:
            hub = preferred
        else:
            hub = min(degree, key=lambda image: (-degree[image], -pixels[image], image))
        preferred = None
        spokes = sorted(image for image in neighbours[hub] if frozenset((hub, image)) in remaining)
        for image in spokes:
            yield remaining.pop(frozenset((hub, image))), None
        sources = [image for image in spokes if _leg_source(known, hub, image) == image]
        if sources:
            preferred = sources[0]
            continue  # the hub was made from another: infer nothing through it, start from its source
        around = neighbours[hub] | {image for key in known if hub in key for image in key}
        for key in sorted(remaining, key=sorted):
            if key <= around:
                yield remaining.pop(key), hub


def _leg_source(known, a, b):
    """The source image a verified pair (of known) names, or None."""
    leg = known.get(frozenset((a, b))) if isinstance(known, dict) else None
    return leg[3] if leg and len(leg) > 3 else None


class _Legs:
    """Verified pairs (of this batch, and earlier ones in the database) that a pair may be inferred from."""

    def __init__(self, pairs):
        images = {i for pair in pairs for i in (pair.image_a_id, pair.image_b_id)}
        known = CandidatePair.objects.filter(
            Q(image_a__in=images) | Q(image_b__in=images), verified=True, inferred=False
        ).values_list("pk", "image_a_id", "image_b_id", "relation", "priority", "source_side", "derivation")
        self.legs = {
            frozenset((a, b)): (pk, relation, priority, {"a": a, "b": b}.get(side), derivation)
            for pk, a, b, relation, priority, side, derivation in known
        }

    def add(self, pair):
        source = {"a": pair.image_a_id, "b": pair.image_b_id}.get(pair.source_side)
        self.legs[frozenset((pair.image_a_id, pair.image_b_id))] = (
            pair.pk, pair.relation, pair.priority, source, pair.derivation
        )

    def infer(self, pair, hub):
        """Settle pair from its two members' verified pairs with hub, when both show hub's picture and
        the hub was made from neither (an upscale or a crop of one member says nothing of how the other
        relates to it: that pair is compared). The direction carries over an exact copy of the hub."""
        members = (pair.image_a_id, pair.image_b_id)
        found = [self.legs.get(frozenset((image, hub))) for image in members]
        if not all(leg and leg[1] and "different" not in leg[1].split("+") for leg in found):
            return False
        if any(leg[3] == image for leg, image in zip(found, members, strict=True)):
            return False
        labels = [set(leg[1].split("+")) for leg in found]
        exact = {"identical", "pixel-identical"}
        # Two changes of the hub say what the members are to each other only when one member is an exact
        # copy of the hub, or the hub is the source of both (siblings): two colour versions of a hub may
        # be equal to each other or not, so such a pair is compared.
        siblings = all(leg[3] == hub for leg in found)
        if not siblings and not any(found_labels & exact for found_labels in labels):
            return False
        if all(found_labels & exact for found_labels in labels):
            relation = ["pixel-identical"]  # equal pixels twice over are equal pixels
        else:
            from .verify import LABELS

            union = (labels[0] | labels[1]) - exact
            relation = [label for label in LABELS if label in union] or ["recompressed"]
        source, derivation = None, []
        for this, other in ((0, 1), (1, 0)):
            # this member is an exact copy of the hub: whatever the hub is to the other, so is this one
            if labels[this] & exact and found[other][3] is not None and not labels[other] & exact:
                source = members[this] if found[other][3] == hub else members[other]
                derivation = [kind for kind in found[other][4].split("+") if kind]
        (left_pk, left_rel, left_p, *_), (right_pk, right_rel, right_p, *_) = found
        sentence = (
            f"Not compared directly: both show the picture of image {hub} (pair {left_pk}: {left_rel}; "
            f"pair {right_pk}: {right_rel})."
        )
        verdict = _inferred_verdict(relation, sentence, min(left_p, right_p), hub, left_pk, right_pk)
        verdict.params["from_relations"] = [left_rel, right_rel]
        if source is not None:
            verdict.source = "left" if source == pair.image_a_id else "right"
            verdict.derivation = derivation
        _apply(pair, verdict, inferred=True)
        return True


def _inferred_verdict(labels, sentence, confidence, hub, left_pk, right_pk):
    from .verify import Verdict

    params = {"inferred_through": hub, "from_pairs": [left_pk, right_pk]}
    return Verdict(labels, params, sentence, confidence, 0)


def note_unopenable(pair, image, error):
    """Note on the pair that storage could not open one of its originals; after the last allowed attempt
    the pair goes to a person as "original missing" (never silently dropped)."""
    attempts = pair.open_attempts + 1
    what = f"{image.storage_key} ({image.source_path or 'no source path'}) could not be opened: {error}"
    pair.open_error, pair.open_error_at, pair.open_attempts = what[:500], timezone.now(), attempts
    log.warning("pair %s, attempt %d: %s", pair.pk, attempts, what)
    with transaction.atomic():
        CandidatePair.objects.filter(pk=pair.pk, verified=False).update(
            open_error=pair.open_error, open_error_at=pair.open_error_at, open_attempts=attempts
        )
        if attempts >= settings.MASTERCOPY_MISSING_ATTEMPTS:
            _save(
                pair,
                relation="",
                params={},
                sentence="",
                tier=CandidatePair.Tier.REVIEW,
                reason=f"original missing after {attempts} attempts: {what}; a person must compare"[:500],
                priority=0.5,
            )


def _side_cache():
    from .verify import SideCache  # OpenCV loads only in the processes that verify

    return SideCache(32)


def _info(image):
    return {"sha256": image.sha256, "format": image.format, "size": image.size}


def _verdict(pair, fetch, cache):
    from .verify import verify

    a, b = pair.image_a, pair.image_b
    return verify(lambda: fetch(a), lambda: fetch(b), left_info=_info(a), right_info=_info(b), cache=cache)


def facts_for(pair, verdict):
    a, b = pair.image_a, pair.image_b
    policies = policy.for_collection(a.collection), policy.for_collection(b.collection)
    return PairFacts(
        same_bytes=pair.same_bytes,
        pixel_identical="pixel-identical" in verdict.labels,
        different=verdict.different,
        labels=verdict.labels,
        confidence=verdict.confidence,
        rights=(a.record.rights, b.record.rights),
        credit_lines=(a.record.credit_line, b.record.credit_line),
        owners=(a.collection.institution, b.collection.institution),
        auto_settle=tuple(p["auto_settle"] for p in policies),
        # Two reference collections: neither record may be superseded by the other's (catalogue.models).
        both_reference=a.collection_id != b.collection_id
        and a.collection.reference
        and b.collection.reference,
        score=pair.score,
        review_min_score=max(float(p["review_min_score"]) for p in policies),
        relation=verdict.relation,
        auto_from=auto_from(policies, verdict.relation),
    )


def auto_from(policies, relation):
    """The score from which both collections settle this relation automatically as a duplicate."""
    scores = [p["auto_relations"].get(relation) for p in policies]
    if not relation or any(s is None for s in scores):
        return None
    if not all(policy.same_record(relation, p) for p in policies):
        return None
    return max(float(s) for s in scores)


def _plain(params):
    """numpy scalars and tuples as plain JSON values."""
    return json.loads(json.dumps(params, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _fetch(image):
    with default_storage.open(image.storage_key, "rb") as stored:
        return stored.read()


def verify_pair(pair):
    """Verify one pair on its own; a storage error propagates as storage raised it, saying nothing
    about the pair (verify_pairs is the batch version that tells a missing file from an outage)."""

    def fetch(image):
        try:
            return _fetch(image)
        except STORAGE_ERRORS as exc:
            raise _Unopenable(image, exc) from exc

    try:
        _verify(pair, fetch, _side_cache())
    except _Unopenable as failure:
        raise failure.error


def _verify(pair, fetch, cache):
    try:
        verdict = _verdict(pair, fetch, cache)
    except _Unopenable:
        raise
    except Exception as exc:  # noqa: BLE001 - one undecodable pair must not stop the batch; a person looks
        log.exception("verification failed for pair %s", pair.pk)
        reason = f"verification failed ({type(exc).__name__}: {exc}); a person must compare"
        failed = TierResult(CandidatePair.Tier.REVIEW, reason, False, 0.5)
        _store_verdict(pair, failed, relation="", params={}, sentence="")
        return
    _apply(pair, verdict)


def _apply(pair, verdict, *, inferred=False):
    facts = facts_for(pair, verdict)
    if inferred:
        facts.auto_from = None  # only equal pixels settle without the two images compared
    result = classify(facts)
    if inferred:
        result.reason = f"inferred through image {verdict.params['inferred_through']}: {result.reason}"
    _store_verdict(pair, result, inferred=inferred, **_verdict_fields(verdict))


def _verdict_fields(verdict):
    return {
        "relation": verdict.relation,
        "params": verdict.params,
        "sentence": verdict.sentence,
        "source": verdict.source,
        "derivation": verdict.derivation,
    }


def _store_verdict(pair, result, **verdict):
    """The tier rules' result for a verdict (_set_verdict's relation, params, sentence, inferred,
    source, derivation): kept for the batch's write inside verify_pairs (_Writes), else stored now and
    its consequences sent for the pair alone (pair_for_review from _save, pair_settled)."""
    writes = _WRITES.get()
    if writes is not None:
        writes.add(pair, result, **verdict)
        return
    with transaction.atomic():
        saved = _save(pair, tier=result.tier, reason=result.reason, priority=result.priority, **verdict)
        if not saved:
            return
        if result.settle:
            suggestion = policy.suggest_master(pair)
            pair_settled.send(
                sender=CandidatePair,
                pair=pair,
                master_image=suggestion.image,
                reason=f"{result.reason}; {suggestion.reason}",
            )
