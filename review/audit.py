"""The decisions' hash chain: each decision's hash covers its own fields and the hash of the one before,
so editing, removing or reordering any stored decision breaks the chain from that point on.

Plain Python over objects with the decision's attributes (a model instance, or a historical model in a
migration): no imports from the models, so migrations and the verifier can use it alike.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC

from django.core.serializers.json import DjangoJSONEncoder

GENESIS = "0" * 64
# The fields a decision's hash covers. The sequence number is not among them: the order is in the
# prev_hash links, so a renumbered log still verifies only if its links still do.
CHAINED_FIELDS = (
    "pair_id",
    "kind",
    "master_id",
    "superseded_id",
    "actor_id",
    "automatic",
    "reason",
    "comment",
    "evidence",
    "before",
    "after",
    "corrects_id",
    "effects",
    "flagged",
    "created_at",
)
# Fields added to decisions later: covered by the hash only when they differ from their default, so the
# hashes of decisions recorded before they existed still verify.
OPTIONAL_CHAINED_FIELDS = {"pending": False, "approves_id": None}


def _plain(value):
    """JSON the way the database gives it back (string keys, lists for tuples), so a hash computed
    before the row is saved matches one computed from the row read back."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def canonical(decision, prev_hash):
    payload = {name: getattr(decision, name) for name in CHAINED_FIELDS}
    for name, default in OPTIONAL_CHAINED_FIELDS.items():
        value = getattr(decision, name, default)
        if value != default:
            payload[name] = value
    payload["created_at"] = decision.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    payload["prev_hash"] = prev_hash
    return json.dumps(_plain(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(decision, prev_hash):
    return hashlib.sha256(canonical(decision, prev_hash).encode()).hexdigest()


@dataclass
class Problem:
    sequence: int | None
    pk: int
    kind: str  # edited / removed / reordered / unchained
    detail: str

    def __str__(self):
        return f"decision {self.pk} (sequence {self.sequence}): {self.kind}: {self.detail}"


def verify(decisions, hash_exists):
    """Walk the decisions in sequence order; yield each break in the chain (the first is the one that
    matters: everything after a break is reported relative to it). hash_exists(h) says whether some
    stored decision has hash h, which tells a reordered event from a removed one."""
    expected_prev, expected_sequence = GENESIS, 1
    for decision in decisions:
        if decision.sequence is None:
            yield Problem(None, decision.pk, "unchained", "added outside the chain (no sequence number)")
            continue
        if decision.hash != digest(decision, decision.prev_hash):
            yield Problem(decision.sequence, decision.pk, "edited", "its fields no longer match its hash")
        if decision.prev_hash != expected_prev:
            if hash_exists(decision.prev_hash):
                yield Problem(
                    decision.sequence, decision.pk, "reordered", "it follows a different event than it did"
                )
            else:
                yield Problem(
                    decision.sequence, decision.pk, "removed", "the event it followed is no longer in the log"
                )
        elif decision.sequence != expected_sequence:
            yield Problem(
                decision.sequence,
                decision.pk,
                "renumbered",
                f"sequence {decision.sequence} where {expected_sequence} was expected",
            )
        expected_prev, expected_sequence = decision.hash, decision.sequence + 1


def head(decisions):
    """(sequence, hash) of the last decision, or (0, GENESIS) for an empty log."""
    last = decisions.exclude(sequence=None).order_by("-sequence").values_list("sequence", "hash").first()
    return last or (0, GENESIS)
