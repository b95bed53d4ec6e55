"""Tier rules: settle only the certain, queue the probable, keep the rejected for calibration.

Pure functions over plain facts, so the rules can be read and tested on their own:

- certain: byte-identical, or pixel-identical after EXIF orientation. Settled automatically by a
  system decision, unless a guardrail holds: the two records' rights/licence, credit line or
  collection owner differ, or either collection has automatic settling switched off. Then the pair
  goes to the review queue with that reason.
- rejected: verification says the images are different photographs. Kept with that verdict.
- probable: everything else within the thresholds: the review queue, ordered by priority.

By default nothing but an exact copy is settled automatically: crops, colour changes, greyscale
versions and resized copies reach a person. An administrator can switch automatic settling on for one
relation from a score upwards (policy ``auto_relations``), and only where calibration shows enough
human confirmations and no rejection in that band (review.calibration); the same guardrails hold.
"""

from dataclasses import dataclass, field

from catalogue import scripts


@dataclass
class PairFacts:
    same_bytes: bool
    pixel_identical: bool
    different: bool
    labels: list = field(default_factory=list)
    confidence: float = 0.0
    rights: tuple = ("", "")
    credit_lines: tuple = ("", "")
    owners: tuple = ("", "")
    auto_settle: tuple = (True, True)
    both_reference: bool = False
    score: float = 1.0
    review_min_score: float = 0.0
    relation: str = ""
    # The lowest score from which this relation is settled automatically under both collections'
    # policies (switched on from calibration evidence), or None.
    auto_from: float | None = None


@dataclass
class TierResult:
    tier: str  # auto | review | rejected
    reason: str
    settle: bool
    priority: float


_RIGHTS_FIELDS = (
    ("the records' rights/licence differ", "the records' rights/licence are the same text in another script"),
    ("the records' credit lines differ", "the records' credit lines are the same text in another script"),
    (
        "the collections belong to different owners",
        "the collections' owners are the same name in another script",
    ),
)


def rights_differences(rights, credit_lines, owners):
    """Which of the two records' rights/licence, credit lines and collection owners differ (each a
    pair of values): the reasons superseding one record by the other needs a person. A difference of
    script only (版權所有 / 版权所有) is the same text and is not one of them (see script_notes)."""
    pairs = (rights, credit_lines, owners)
    return [reason for (reason, _), pair in zip(_RIGHTS_FIELDS, pairs, strict=True) if differ(pair)]


def script_notes(rights, credit_lines, owners):
    """Which of the same three pairs differ in script only: said in the reason, so a person reading it
    knows the guardrail compared them and found the same text."""
    pairs = (rights, credit_lines, owners)
    return [note for (_, note), pair in zip(_RIGHTS_FIELDS, pairs, strict=True) if _script_only(pair)]


def guardrails(facts):
    """Why an exact copy must still go to a person, if it must."""
    reasons = rights_differences(facts.rights, facts.credit_lines, facts.owners)
    if not all(facts.auto_settle):
        reasons.append("automatic settling is switched off for this collection")
    if facts.both_reference:
        reasons.append("both records are in reference collections, which are never superseded")
    return reasons


def differ(pair):
    """Two catalogue values differ: not merely in case, spacing or Chinese script (catalogue.scripts)."""
    return scripts.compare(*pair) == scripts.DIFFERENT


def _script_only(pair):
    return scripts.compare(*pair) == scripts.SCRIPT


def _settled(facts, what):
    notes = script_notes(facts.rights, facts.credit_lines, facts.owners)
    return f"{what}; {'; '.join(notes)}" if notes else what


def classify(facts):
    if facts.same_bytes or facts.pixel_identical:
        kind = "byte-identical files" if facts.same_bytes else "pixel-identical images"
        blocked = guardrails(facts)
        if blocked:
            return TierResult("review", _settled(facts, f"{kind}, but {'; '.join(blocked)}"), False, 1.0)
        return TierResult("auto", _settled(facts, kind), True, 1.0)
    if facts.different:
        return TierResult("rejected", "verification found different photographs", False, 0.0)
    if facts.score < facts.review_min_score:
        return TierResult(
            "rejected",
            f"score {facts.score:.2f} below the review cut-off {facts.review_min_score:.2f}",
            False,
            0.0,
        )
    if facts.auto_from is not None and facts.score >= facts.auto_from:
        what = (
            f"{facts.relation} at score {facts.score:.2f}, settled automatically from "
            f"{facts.auto_from:.2f} on calibration evidence"
        )
        blocked = guardrails(facts)
        if blocked:
            return TierResult(
                "review",
                _settled(facts, f"{what}, but {'; '.join(blocked)}"),
                False,
                round(facts.confidence, 4),
            )
        return TierResult("auto", _settled(facts, what), True, 1.0)
    return TierResult(
        "review",
        "probable match: " + ("+".join(facts.labels) or "similar"),
        False,
        round(facts.confidence, 4),
    )
