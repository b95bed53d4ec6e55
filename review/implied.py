"""Pairs whose answer follows from decisions already taken are closed by the system; pairs whose
decisions contradict each other go to a supervisor (the rules: review.implication).

After every settling decision (a person's, an approval's, an automatic one), `settle` looks at the open
queue items of pairs with an image in the record groups the decision touched, and for each:

- an answer implied by standing decisions: a system decision (automatic, no actor) of that kind, whose
  reason cites the decisions by id and the records by catalogue number, and whose evidence lists them
  under `implied_by`; the item is settled, so the queue never offers the pair. It changes nothing in
  the catalogue (the records are one group, or linked, already), so it records no states;
- decisions that contradict each other: a flagged escalation by the system, citing both sides; the item
  waits for a supervisor.

An undo or revert of a decision reopens the pairs closed on its strength (`citing` before the catalogue
is put back, `reopen` after): each system decision is reverted by the system, and the pair is settled
again at once if other decisions still imply it.

Cost: the record groups involved (their records, found by master), their images' pairs and the
standing decisions on those records, all by indexed look-ups; never the whole queue or the whole log.
"""

from django.db.models import Q
from django.utils.translation import gettext as _

from catalogue.models import CatalogueRecord, ImageFile
from dedup.models import CandidatePair

from . import implication
from .models import Decision, ReviewItem, not_corrected

MARK = "implied_by"  # the evidence key of a system decision that follows from earlier ones
_CHUNK = 5000
_KINDS = {
    implication.DUPLICATE: Decision.Kind.DUPLICATE,
    implication.RELATED: Decision.Kind.RELATED,
    implication.DISTINCT: Decision.Kind.DISTINCT,
}


def _chunks(ids):
    ids = sorted(ids)
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _standing(decisions):
    return decisions.filter(not_corrected(), pending=False)


# --- reading the facts --------------------------------------------------------------------------------


def _groups(records):
    """{record: root} for every record of the record groups these records are in: each round reads the
    frontier's rows and the rows of the records under them in one statement, until every record found
    has been read with its followers (its master among them: a record found under another has that
    one as master). The records found by walking up to the roots and then down from them, one statement
    fewer than the two walks apart (the default ordering, by collection name, left out: a join)."""
    rows = CatalogueRecord.objects.order_by().values_list("pk", "master_id")
    masters, read, frontier = {}, set(), set(records)
    while frontier:
        for chunk in _chunks(frontier):
            masters.update(rows.filter(Q(pk__in=chunk) | Q(master__in=chunk)))
        read |= frontier
        frontier = ({m for m in masters.values() if m is not None} | set(masters)) - read
    return {record: _root(record, masters) for record in masters}


def _root(record, masters):
    seen = {record}
    while masters.get(record) is not None and masters[record] not in seen:
        record = masters[record]
        seen.add(record)
    return record


def _images(records):
    images = {}
    for chunk in _chunks(records):
        images.update(ImageFile.objects.filter(record__in=chunk).order_by().values_list("pk", "record_id"))
    return images


def _pairs_of(images):
    """{pair: (record a, record b)} of every pair with an image among these (either side, one statement:
    a BitmapOr of the two sides' indexes)."""
    pairs = {}
    rows = CandidatePair.objects.values_list("pk", "image_a__record_id", "image_b__record_id")
    for chunk in _chunks(images):
        pairs.update((pk, (a, b)) for pk, a, b in rows.filter(Q(image_a__in=chunk) | Q(image_b__in=chunk)))
    return pairs


class _Known:
    """The facts about some record groups, with what the reasons need to say them."""

    def __init__(self, roots, read=None):
        """read: (records, {pair: (record a, record b)} of every pair with an image in them) already
        found in this transaction (settle's), so that only the other records' pairs are looked up."""
        self.roots = roots
        records = list(roots)
        duplicates, links, self.said = [], {"related": [], "distinct": []}, {}
        rows = _standing(Decision.objects.filter(kind=Decision.Kind.DUPLICATE)).exclude(superseded=None)
        for chunk in _chunks(records):
            for pk, master, superseded in rows.filter(superseded__in=chunk).values_list(
                "pk", "master_id", "superseded_id"
            ):
                duplicates.append((pk, master, superseded))
                self.said[pk] = ("duplicate", master, superseded)
        done, pairs = read if read is not None else ((), {})
        pairs = dict(pairs)
        rest = [record for record in records if record not in done]
        if rest:
            pairs.update(_pairs_of(_images(rest)))
        linking = _standing(Decision.objects.filter(kind__in=["related", "distinct"])).exclude(
            evidence__has_key=MARK
        )
        for chunk in _chunks(pairs):
            for pk, kind, pair in linking.filter(pair__in=chunk).values_list("pk", "kind", "pair_id"):
                p, q = pairs[pair]
                links[kind].append((pk, p, q))
                self.said[pk] = (kind, p, q)
        self.facts = implication.Facts(roots, duplicates, links["related"], links["distinct"])
        self.numbers = {}

    def number(self, record):
        if record not in self.numbers:
            self.numbers.update(
                CatalogueRecord.objects.filter(pk__in=list(self.roots) or [record]).values_list(
                    "pk", "catalogue_number"
                )
            )
        return self.numbers.get(record, str(record))

    def fact(self, decision):
        kind, p, q = self.said[decision]
        words = {"id": decision, "a": self.number(p), "b": self.number(q)}
        if kind == "duplicate":
            return _("decision %(id)s made %(a)s the master of %(b)s") % words
        if kind == "related":
            return _("decision %(id)s linked %(a)s and %(b)s as related") % words
        return _("decision %(id)s found %(a)s and %(b)s not related") % words

    def facts_of(self, decisions):
        return "; ".join(self.fact(d) for d in decisions)


# --- closing and flagging -----------------------------------------------------------------------------


def _reason(known, found, x, y):
    words = {"a": known.number(x), "b": known.number(y)}
    if found.kind is None:
        answers = "; ".join(
            _("%(kind)s by %(facts)s") % {"kind": _KINDS[kind].label, "facts": known.facts_of(because)}
            for kind, because in sorted(found.conflict.items())
        )
        return _("earlier decisions contradict each other about %(a)s and %(b)s: %(answers)s") % {
            **words,
            "answers": answers,
        }
    words["facts"] = known.facts_of(found.because)
    if found.kind == implication.DUPLICATE:
        return _("%(a)s and %(b)s are one record already: %(facts)s") % words
    if found.kind == implication.RELATED:
        return _("%(a)s and %(b)s are related already: %(facts)s") % words
    return _("%(a)s and %(b)s are not related, as already decided: %(facts)s") % words


def _record(kind, **fields):
    return Decision.objects.record(kind, automatic=True, actor=None, before=[], after=[], **fields)


def _close(item, pair, known, found, x, y):
    reason = _reason(known, found, x, y)
    evidence = {"pair": pair, MARK: list(found.because)}
    if found.kind is None:
        evidence["contradicting"] = {kind: list(because) for kind, because in found.conflict.items()}
        decision = _record(
            Decision.Kind.ESCALATE, pair_id=pair, flagged=True, reason=reason, evidence=evidence
        )
        ReviewItem.objects.filter(pk=item).escalate()
        return decision
    kind = _KINDS[found.kind]
    master = known.roots.get(x, x) if kind == Decision.Kind.DUPLICATE else None
    decision = _record(kind, pair_id=pair, master_id=master, reason=reason, evidence=evidence)
    ReviewItem.objects.filter(pk=item).settle(decision)
    return decision


def settle(records, pairs=None, exclude=()):
    """Close every open pair with an image in these records' groups whose answer the standing
    decisions imply, and flag those whose decisions contradict each other (pairs: only these pair
    ids; exclude: never these). Inside the caller's transaction. Returns the decisions recorded."""
    roots = _groups(records)
    read = (set(roots), _pairs_of(_images(roots))) if pairs is None else None
    candidates = read[1] if pairs is None else records_of(pairs)
    candidates = {pk: ab for pk, ab in candidates.items() if pk not in set(exclude)}
    items = {}
    for chunk in _chunks(candidates):
        items.update(
            ReviewItem.objects.filter(pair__in=chunk, status=ReviewItem.Status.OPEN).values_list(
                "pair_id", "pk"
            )
        )
    if not items:
        return []
    others = {r for pk in items for r in candidates[pk]} - set(roots)
    if others:
        roots.update(_groups(others))
    known = _Known(roots, read)
    recorded = []
    for pair, item in sorted(items.items()):
        x, y = candidates[pair]
        found = known.facts.implied(x, y)
        if found is not None:
            recorded.append(_close(item, pair, known, found, x, y))
    return recorded


def record_groups(records):
    """{record: root} for every record of the record groups these records are in (review.exact)."""
    return _groups(records)


def open_pairs(records):
    """{pair: (record a, record b)} of the pairs with an open queue item and an image in these records:
    what settle() would look at for them (review.exact)."""
    pairs = _pairs_of(_images(records))
    found = {}
    for chunk in _chunks(pairs):
        rows = ReviewItem.objects.filter(pair__in=chunk, status=ReviewItem.Status.OPEN)
        found.update((pk, pairs[pk]) for pk in rows.values_list("pair_id", flat=True))
    return found


def records_of(pairs):
    """{pair: (record a, record b)} of these pair ids."""
    rows = CandidatePair.objects.values_list("pk", "image_a__record_id", "image_b__record_id")
    found = {}
    for chunk in _chunks(pairs):
        found.update((pk, (a, b)) for pk, a, b in rows.filter(pk__in=chunk))
    return found


def settle_pairs(pairs):
    """settle for these pairs only (new queue items, reopened ones)."""
    found = records_of(pairs)
    return settle({r for ab in found.values() for r in ab}, pairs=list(found))


def after(decision):
    """After a settling decision, in its transaction: settle the pairs its answer now implies."""
    if decision.pending or decision.flagged or decision.kind not in _KINDS.values():
        return []
    return settle(_touched(decision))


def after_many(decisions):
    """after() for a batch of decisions in one transaction (a band decision): one settle over every
    record group they touched, instead of one per decision."""
    records = set()
    for decision in decisions:
        if not (decision.pending or decision.flagged or decision.kind not in _KINDS.values()):
            records |= _touched(decision)
    return settle(records) if records else []


def _touched(decision):
    records = {state["record"] for state in decision.before} | {decision.master_id, decision.superseded_id}
    if decision.pair_id:
        records |= _records_of_pair(decision)
    return records - {None}


def _records_of_pair(decision):
    """The two records of the decision's pair: from the pair and images it was recorded with when they
    are loaded (a decision on the pair screen, an automatic one), else looked up."""
    if Decision._meta.get_field("pair").is_cached(decision):
        pair = decision.pair
        sides = [CandidatePair._meta.get_field(side) for side in ("image_a", "image_b")]
        if all(side.is_cached(pair) for side in sides):
            return {pair.image_a.record_id, pair.image_b.record_id}
    return set(records_of([decision.pair_id]).get(decision.pair_id, ()))


# --- undo and revert ----------------------------------------------------------------------------------


def citing(decision):
    """The standing system decisions that follow from this one (call it before an undo or revert puts
    the catalogue back: they are on pairs of the record groups it made)."""
    pairs = _pairs_of(_images(_groups(_touched(decision))))
    found = []
    rows = _standing(Decision.objects.filter(automatic=True, evidence__has_key=MARK))
    for chunk in _chunks(pairs):
        for pk, evidence in rows.filter(pair__in=chunk).values_list("pk", "evidence"):
            if decision.pk in evidence.get(MARK, ()):
                found.append(pk)
    return Decision.objects.filter(pk__in=found).order_by("pk")


def reopen(closed, correction):
    """Revert the system decisions closed (from citing) because correction undid or reverted what they
    followed from: each pair is open again, then closed again at once if other decisions imply it."""
    pairs = []
    for decision in closed:
        _record(
            Decision.Kind.REVERT,
            pair_id=decision.pair_id,
            corrects=decision,
            reason=_("decision %(basis)s, which this followed from, was %(how)s by decision %(by)s")
            % {"basis": correction.corrects_id, "how": correction.get_kind_display(), "by": correction.pk},
            evidence={"because_of": correction.pk},
        )
        pairs.append(decision.pair_id)
        # A contradiction flagged on its strength is reopened too: checked again below.
        ReviewItem.objects.filter(pair_id=decision.pair_id).exclude(status=ReviewItem.Status.PENDING).reopen()
    if not pairs:
        return []
    return settle_pairs(pairs)
