"""Band decisions: a supervisor settles every open pair of one collection, relation and score band at
once by accepting the suggested master for each, when the band's reviewed decisions show that people
almost always accepted it.

The estimate. A band's *reviewed decisions* are the settled human decisions (duplicate, related or not
related) on pairs whose queue item is in the band, that took effect (not a proposal waiting for
approval) and still stand (not undone, reverted or declined); one per pair (the latest, should a pair
have two). Automatic decisions and band decisions themselves are left out: the first say nothing about
people's judgement, and counting the second would let a band vouch for itself. A reviewed decision
*agrees* when it is a duplicate whose master is the suggested master, the one the pair screen suggests
today (dedup.policy.suggest_master). The estimated precision is agreeing / reviewed, with its 95% Wilson
score interval; a band decision is allowed only when the interval's lower bound reaches the level the
collection's policy sets (``band_precision``, default 0.99; for a band whose pairs reach into other
collections, the strictest of their levels).

Counts come from the queue's counters (review.queue_counts), the sample and the band's items from the
review_item_band index (status, collection, relation, score), so neither costs a pass over the queue.
"""

import math
import random
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from catalogue import access
from catalogue.models import Collection
from dedup import policy
from dedup.models import CandidatePair

from . import approval, decisions, queue_counts, services
from .models import BandDecision, Decision, ReviewItem

# Pairs shown to the supervisor before the action: enough to see a bad band at a glance.
SAMPLE_SIZE = 24
# Up to this many open items, the sample is drawn uniformly from their ids (one index-only scan);
# above it, from random points of the band's score range (24 index probes: no pass over the band).
SAMPLE_SCAN = 20_000
# The normal quantile of a two-sided 95% interval.
Z95 = 1.959963984540054
# The key of a band decision's evidence that says which band, which estimate and which level it met.
EVIDENCE_KEY = "band"


class BandError(decisions.ReviewError):
    """A refused band decision, said to the supervisor with the figures."""


def wilson(agree, total, z=Z95):
    """The Wilson score interval (low, high) of a proportion agree/total; (0, 1) without evidence."""
    if total <= 0:
        return 0.0, 1.0
    p = agree / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    denominator = 1 + z * z / total
    # The bounds are exactly 0 and 1 at the ends (floating point would give 0.9999999999999999).
    low = 0.0 if agree == 0 else max(0.0, (centre - spread) / denominator)
    high = 1.0 if agree == total else min(1.0, (centre + spread) / denominator)
    return low, high


@dataclass(frozen=True)
class Band:
    """One collection, one verified relation ("resized+recompressed") and one score band of the queue
    (a services.SCORE_BANDS key)."""

    collection: Collection
    relation: str
    band: str

    def __post_init__(self):
        if self.band not in services.SCORE_BANDS:
            raise BandError(_("Choose a score band."))

    @property
    def bounds(self):
        return services.SCORE_BANDS[self.band]

    def score_q(self, prefix=""):
        low, high = self.bounds
        condition = Q()
        if low is not None:
            condition &= Q(**{f"{prefix}score__gte": low})
        if high is not None:
            condition &= Q(**{f"{prefix}score__lt": high})
        return condition

    def items(self):
        """Every review item of the band, whatever its status (index review_item_band)."""
        return ReviewItem.objects.filter(collection=self.collection, relation=self.relation).filter(
            self.score_q()
        )

    def describe(self):
        return {
            "collection": self.collection.pk,
            "relation": self.relation,
            "band": self.band,
        }


@dataclass(frozen=True)
class Estimate:
    agree: int
    total: int
    low: float
    high: float

    @property
    def precision(self):
        return self.agree / self.total if self.total else None

    def as_evidence(self):
        return {
            "agree": self.agree,
            "total": self.total,
            "low": round(self.low, 6),
            "high": round(self.high, 6),
        }


def open_cells(band, user):
    """The queue counters' cells of the band's open items whose two collections user may see."""
    cells = queue_counts.cells(access.visible_ids(user), [ReviewItem.Status.OPEN])
    return queue_counts.filtered(
        cells, {"collection": band.collection.pk, "relation": band.relation, "band": band.band}
    )


def open_count(band, user):
    return queue_counts.total(open_cells(band, user))


def level(band, user):
    """The precision the band needs: the strictest level of the collections its open pairs touch."""
    ids = {band.collection.pk, *open_cells(band, user).values_list("collection_b_id", flat=True)}
    return max(
        float(policy.for_collection(collection)["band_precision"])
        for collection in Collection.objects.filter(pk__in=ids)
    )


def reviewed_decisions(band):
    """The band's reviewed decisions (see the module's docstring), as a queryset."""
    return (
        Decision.objects.filter(
            automatic=False,
            pending=False,
            kind__in=decisions.SETTLING,
            pair__review_item__collection=band.collection,
            pair__review_item__relation=band.relation,
        )
        .filter(band.score_q("pair__review_item__"))
        .filter(corrections__isnull=True)
        .exclude(batch__in=BandDecision.objects.values("batch"))
    )


def estimate(band):
    """The band's estimated precision and its 95% interval, from its reviewed decisions."""
    latest = {}
    rows = reviewed_decisions(band).values_list("pair_id", "kind", "master_id")
    for pair_id, kind, master_id in rows.order_by("sequence"):
        latest[pair_id] = (kind, master_id)
    pairs = _pairs_with_images(latest)
    agree = 0
    for pair_id, (kind, master_id) in latest.items():
        if kind == Decision.Kind.DUPLICATE and master_id == suggested_master(pairs[pair_id]).record_id:
            agree += 1
    return Estimate(agree, len(latest), *wilson(agree, len(latest)))


# What dedup.policy.suggest_master reads of a pair: both images, their records, collections and
# fingerprints (the quality facts).
PAIR_FIELDS = (
    "image_a__collection",
    "image_b__collection",
    "image_a__record__collection",
    "image_b__record__collection",
    "image_a__fingerprint",
    "image_b__fingerprint",
)


def _pairs_with_images(ids):
    return CandidatePair.objects.select_related(*PAIR_FIELDS).in_bulk(list(ids))


def items_with_pairs(ids):
    """{item id: item} with each item's pair as the suggestion and the thumbnails need it."""
    related = [f"pair__{field}" for field in PAIR_FIELDS]
    return ReviewItem.objects.select_related(*related).in_bulk(list(ids))


def suggested_master(pair):
    """The image the pair screen suggests keeping."""
    return policy.suggest_master(pair).image


def open_items(band, user):
    """The band's open items whose two collections user may see."""
    items = band.items().filter(status=ReviewItem.Status.OPEN)
    return access.within(items, access.visible_ids(user), "collection", "pair__image_b__collection")


def sample(band, user, size=SAMPLE_SIZE, rng=None):
    """A random sample of the band's open items (their pairs with images and records loaded)."""
    rng = rng or random.SystemRandom()
    items = open_items(band, user)
    ids = list(items.order_by().values_list("pk", flat=True)[: SAMPLE_SCAN + 1])
    if len(ids) <= SAMPLE_SCAN:
        chosen = rng.sample(ids, min(size, len(ids)))
    else:
        chosen = _score_points(items, band, size, rng)
    found = items_with_pairs(chosen)
    return [found[pk] for pk in chosen if pk in found]


def _score_points(items, band, size, rng):
    """About size items of a large band: the first at or above each of size random scores between the
    band's lowest and highest (index probes). Uniform in score, so nearly uniform over items unless
    the scores bunch; used only above SAMPLE_SCAN items, where a full id list is the cost to avoid."""
    ordered = items.order_by("score", "pk").values_list("pk", "score")
    lowest, highest = ordered.first()[1], ordered.reverse().first()[1]
    chosen = []
    for _attempt in range(size * 2):
        point = rng.uniform(lowest, highest)
        found = ordered.filter(score__gte=point).exclude(pk__in=chosen).first()
        if found is not None:
            chosen.append(found[0])
        if len(chosen) == size:
            break
    return chosen


def check(band, user, found=None):
    """(estimate, level, why the band may not be decided as a whole now: "" when it may)."""
    found = found or estimate(band)
    needed = level(band, user)
    return found, needed, _refusal(band, found, needed)


def refusal(band, user):
    return check(band, user)[2]


def _refusal(band, found, needed):
    rules = policy.for_collection(band.collection)
    if not policy.same_record(band.relation, rules):
        return _(
            "%(collection)s counts %(relation)s as related but distinct, not as the same record: the "
            "suggested decision for these pairs is not a duplicate, so there is no master to accept."
        ) % {"collection": band.collection.name, "relation": band.relation}
    if found.total == 0:
        return _(
            "No reviewed decisions in this band yet: its precision cannot be estimated. The band needs "
            "a lower bound of %(level)s."
        ) % {"level": f"{needed:.3f}"}
    if found.low < needed:
        return _(
            "Refused: the estimated precision is %(precision)s (95%% interval %(low)s – %(high)s, "
            "%(agree)d of %(total)d reviewed decisions accepted the suggested master); its lower bound "
            "%(low)s is below the %(level)s that the collections of its pairs require."
        ) % {
            "precision": f"{found.precision:.3f}",
            "low": f"{found.low:.3f}",
            "high": f"{found.high:.3f}",
            "agree": found.agree,
            "total": found.total,
            "level": f"{needed:.3f}",
        }
    return ""


# --- the action -----------------------------------------------------------------------------------------


@dataclass
class Result:
    batch: str
    count: int
    pending: bool
    reasons: list
    # Pairs of the band it did not decide, by why: held by someone else, would contradict earlier
    # decisions, a reference collection's record that another may not supersede (these stay in the
    # queue), or closed meanwhile by the system (review.implied) on the strength of earlier decisions.
    left: dict

    def left_message(self):
        return _(
            "%(n)d pairs of the band were not decided by it: %(held)d being reviewed by someone else, "
            "%(conflict)d that would contradict earlier decisions, %(reference)d in a reference "
            "collection (these stay in the queue), and %(closed)d closed meanwhile by the system as "
            "following from decisions already taken."
        ) % {
            "n": sum(self.left.values()),
            "held": self.left.get("held", 0),
            "conflict": self.left.get("conflict", 0),
            "reference": self.left.get("reference", 0),
            "closed": self.left.get("closed", 0),
        }


def _locked_items(band, user):
    """The band's open items, row-locked (in id order), with their pairs."""
    ids = list(open_items(band, user).order_by().values_list("pk", flat=True))
    locked = ReviewItem.objects.select_for_update().filter(pk__in=ids, status=ReviewItem.Status.OPEN)
    found = items_with_pairs(list(locked.order_by("pk").values_list("pk", flat=True)))
    return [found[pk] for pk in sorted(found)]


def _why_left(item, user, now):
    """Why an item of the band cannot be decided by the band now ("" when it can): taken out of the
    queue meanwhile (e.g. closed by the system on the strength of the batch's earlier decisions), held
    by someone else, contradicting earlier decisions, or a reference collection's record."""
    if not ReviewItem.objects.filter(pk=item.pk, status=ReviewItem.Status.OPEN).exists():
        return "closed"
    if item.lease_held_by_other(user, now):
        return "held"
    pair = item.pair
    if decisions.contradiction(pair, Decision.Kind.DUPLICATE):
        return "conflict"
    master = suggested_master(pair)
    other = pair.image_b if master.pk == pair.image_a_id else pair.image_a
    if not other.record.resolve().may_be_superseded_by(master.record):
        return "reference"
    return ""


def _approval_reasons(items, user):
    """Every two-person rule that holds for any pair of the band (the whole batch waits if one does)."""
    found = []
    for item in items:
        for reason in approval.reasons(item.pair, Decision.Kind.DUPLICATE, user):
            if reason not in found:
                found.append(reason)
    return found


@decisions.chain_transaction()
def decide(band, user, comment=""):
    """Accept the suggested master for every open pair of the band as one batch, if the estimate
    allows it now (checked here, inside the transaction). Under the pairs' collections' two-person
    rules the whole batch is recorded as proposals waiting for another supervisor's approval. Pairs
    someone else holds, or that would contradict earlier decisions, stay in the queue."""
    found, needed, why = check(band, user)
    if why:
        raise BandError(why)
    now = timezone.now()
    items = _locked_items(band, user)
    rules = _approval_reasons(items, user)
    batch = decisions.new_batch()
    evidence = {EVIDENCE_KEY: {**band.describe(), **found.as_evidence(), "level": needed}}
    reason = _("band decision: %(relation)s, score %(band)s, estimated precision %(low)s or better") % {
        "relation": band.relation,
        "band": band.band,
        "low": f"{found.low:.3f}",
    }
    left, recorded, count = {}, [], 0
    for item in items:
        cause = _why_left(item, user, now)
        if cause:
            left[cause] = left.get(cause, 0) + 1
            continue
        pair, master = item.pair, suggested_master(item.pair)
        if rules:
            side = "left" if master.pk == pair.image_a_id else "right"
            approval.propose(item, pair, user, Decision.Kind.DUPLICATE, side, comment, (), rules, batch=batch)
        else:
            decision = decisions.decide_duplicate(
                pair,
                master.record,
                actor=user,
                reason=reason,
                comment=comment,
                evidence=evidence,
                batch=batch,
                follow_up=False,
            )
            recorded.append(decision)
        count += 1
    if not count:
        raise BandError(_("No open pair of this band can be decided now."))
    # The pairs the batch's answers imply, and the regroup, once for the whole batch.
    decisions.follow_up_many(recorded)
    BandDecision.objects.create(
        batch=batch,
        collection=band.collection,
        relation=band.relation,
        band=band.band,
        actor=user,
        pairs=count,
        agree=found.agree,
        total=found.total,
        low=found.low,
        high=found.high,
        level=needed,
        proposed=bool(rules),
    )
    return Result(str(batch), count, bool(rules), rules, left)


def batch_band(batch):
    """The band decision of a batch id, or None."""
    return BandDecision.objects.select_related("collection", "actor").filter(batch=batch).first()


@decisions.chain_transaction()
def approve(batch, supervisor, comment=""):
    """Another supervisor approves a band's proposals as one: each applied exactly as proposed, in
    the same batch (so the batch reverts as one). Refused when the band's estimate no longer reaches
    its level, or when a proposal of it would now contradict earlier decisions (nothing applied)."""
    band_decision = batch_band(batch)
    waiting = list(approval.waiting().filter(batch=batch).order_by("sequence"))
    if band_decision is None or not waiting:
        raise BandError(_("No band decision of this batch waits for approval."))
    if any(p.actor_id == supervisor.pk for p in waiting):
        raise BandError(_("A second person must approve: you proposed this band decision yourself."))
    band = Band(band_decision.collection, band_decision.relation, band_decision.band)
    why = refusal(band, supervisor)
    if why:
        raise BandError(why)
    return [approval.approve(p.pk, supervisor, comment=comment, batch=batch) for p in waiting]


@decisions.chain_transaction()
def decline(batch, supervisor, comment=""):
    """Another supervisor sends a band's proposals back: every pair returns to the queue."""
    waiting = list(approval.waiting().filter(batch=batch).order_by("sequence"))
    if batch_band(batch) is None or not waiting:
        raise BandError(_("No band decision of this batch waits for approval."))
    return [approval.decline(p.pk, supervisor, comment=comment, batch=batch) for p in waiting]


def batch_figures(batch):
    """How the batch's decisions stand now: applied and standing, waiting, reverted or declined."""
    members = Decision.objects.filter(batch=batch, kind=Decision.Kind.DUPLICATE)
    corrected = Q(corrections__isnull=False)
    approved = Q(approvals__isnull=False)
    return {
        "applied": members.filter(pending=False, corrections__isnull=True).count(),
        "waiting": members.filter(pending=True).exclude(corrected).exclude(approved).count(),
        "overturned": members.filter(corrected).distinct().count(),
    }
