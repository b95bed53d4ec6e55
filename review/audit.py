"""The decisions' hash chain: each decision's hash covers its own fields and the hash of the one before,
so editing, removing or reordering any stored decision breaks the chain from that point on.

The hashes are keyed (HMAC-SHA256) with MASTERCOPY_AUDIT_KEY, a secret kept out of the database: whoever
can write to the database but does not hold the key cannot recompute a consistent chain after an edit.
Each decision names the key that signed it (key_id, a fingerprint of the key, never the key), so a key
can be rotated: the new key signs from then on, and the old ones (MASTERCOPY_AUDIT_OLD_KEYS) still verify
the decisions they signed. Deleting the newest decisions leaves a shorter chain that is intact in itself;
checkpoints of the chain's head written outside the database (an append-only file, and every export)
catch that: a checkpoint's event must still be in the log, with the same hash.

Plain Python over objects with the decision's attributes (a model instance, or a historical model in a
migration): no imports from the models, so migrations and the verifier can use it alike.
"""

import fcntl
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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
OPTIONAL_CHAINED_FIELDS = {"pending": False, "approves_id": None, "batch": None}
MIN_KEY_LENGTH = 32


def _plain(value):
    """JSON the way the database gives it back (string keys, lists for tuples), so a hash computed
    before the row is saved matches one computed from the row read back."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def canonical(decision, prev_hash, key_id=None):
    payload = {name: getattr(decision, name) for name in CHAINED_FIELDS}
    for name, default in OPTIONAL_CHAINED_FIELDS.items():
        value = getattr(decision, name, default)
        if value != default:
            payload[name] = value
    payload["created_at"] = decision.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    payload["prev_hash"] = prev_hash
    if key_id is not None:
        payload["key_id"] = key_id
    return json.dumps(_plain(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- keys -------------------------------------------------------------------------------------------


def key_id(key):
    """A short public name for a key: an HMAC of a constant under it, which says nothing about the key."""
    return hmac.new(key.encode(), b"mastercopy audit key id", hashlib.sha256).hexdigest()[:12]


def keyring():
    """{key id: key} of the current key (settings.MASTERCOPY_AUDIT_KEY) and the retired ones that still
    verify what they signed (settings.MASTERCOPY_AUDIT_OLD_KEYS)."""
    from django.conf import settings

    keys = [settings.MASTERCOPY_AUDIT_KEY, *settings.MASTERCOPY_AUDIT_OLD_KEYS]
    return {key_id(key): key for key in keys}


def current_key_id():
    from django.conf import settings

    return key_id(settings.MASTERCOPY_AUDIT_KEY)


def digest(decision, prev_hash, keys=None):
    """HMAC-SHA256 of the decision's fields and prev_hash, under the key its key_id names."""
    keys = keyring() if keys is None else keys
    message = canonical(decision, prev_hash, decision.key_id)
    return hmac.new(keys[decision.key_id].encode(), message.encode(), hashlib.sha256).hexdigest()


def legacy_digest(decision, prev_hash):
    """The unkeyed SHA-256 that chained decisions before the key (migrations 0004 and the re-keying)."""
    return hashlib.sha256(canonical(decision, prev_hash).encode()).hexdigest()


# --- checking -----------------------------------------------------------------------------------------


@dataclass
class Problem:
    sequence: int | None
    pk: int | None
    kind: str  # edited / removed / reordered / renumbered / unchained / unkeyed / unknown key / rewritten
    detail: str

    def __str__(self):
        where = f"sequence {self.sequence}"
        if self.pk is not None:
            where = f"decision {self.pk} ({where})"
        return f"{where}: {self.kind}: {self.detail}"


def keyed_check(keys=None):
    """The verifier's test of one decision's own hash: None when it holds, else (kind, detail)."""
    keys = keyring() if keys is None else keys

    def check(decision):
        if not decision.key_id:
            return "unkeyed", "its hash is a plain SHA-256 that anyone can recompute, not keyed"
        if decision.key_id not in keys:
            return "unknown key", f"signed with key {decision.key_id}, which is not configured"
        if not hmac.compare_digest(decision.hash, digest(decision, decision.prev_hash, keys)):
            return "edited", "its fields no longer match its hash"
        return None

    return check


def legacy_check(decision):
    if decision.hash != legacy_digest(decision, decision.prev_hash):
        return "edited", "its fields no longer match its hash"
    return None


def verify(decisions, hash_exists, keys=None, checkpoints=None, check=None):
    """Walk the decisions in sequence order; yield each break in the chain (the first is the one that
    matters: everything after a break is reported relative to it). hash_exists(h) says whether some
    stored decision has hash h, which tells a reordered event from a removed one.

    checkpoints ({sequence: {hash: when}}, read_checkpoints) are heads noted outside the database: each
    must still be in the log with its hash, which catches events cut from the end and a chain
    recomputed by someone who holds the key."""
    check = check or keyed_check(keys)
    checkpoints = checkpoints or {}
    expected_prev, expected_sequence, last = GENESIS, 1, 0
    for decision in decisions:
        if decision.sequence is None:
            yield Problem(None, decision.pk, "unchained", "added outside the chain (no sequence number)")
            continue
        broken = check(decision)
        if broken:
            yield Problem(decision.sequence, decision.pk, *broken)
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
        for noted, when in checkpoints.get(decision.sequence, {}).items():
            if noted != decision.hash:
                detail = f"its hash differs from the checkpoint of {when}"
                yield Problem(decision.sequence, decision.pk, "rewritten", detail)
        expected_prev, expected_sequence = decision.hash, decision.sequence + 1
        last = max(last, decision.sequence)
    beyond = [sequence for sequence in checkpoints if sequence > last]
    if beyond:
        top = max(beyond)
        when = max(checkpoints[top].values())
        yield Problem(
            top,
            None,
            "removed",
            f"the checkpoint of {when} noted the log up to sequence {top}, but it now ends at {last}: "
            "the events after it were deleted",
        )


def head(decisions):
    """(sequence, hash) of the last decision, or (0, GENESIS) for an empty log."""
    last = decisions.exclude(sequence=None).order_by("-sequence").values_list("sequence", "hash").first()
    return last or (0, GENESIS)


# --- checkpoints outside the database ------------------------------------------------------------------


def checkpoint_line(sequence, value, key, reason, **extra):
    entry = {
        "sequence": sequence,
        "hash": value,
        "key_id": key,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reason": reason,
        **extra,
    }
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


def append_checkpoint(path, line):
    """Append one line to the checkpoint file. O_APPEND plus an exclusive lock, so the web processes and
    the workers sharing the file never interleave; the file is only ever appended to (on Linux it can
    be made append-only for everyone but root: chattr +a)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_checkpoints(path):
    """{sequence: {hash: when}} from the checkpoint file ({} when there is none). A line that does not
    parse (a write cut short by a crash) is skipped."""
    noted = {}
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                try:
                    entry = json.loads(line)
                    sequence, value = int(entry["sequence"]), str(entry["hash"])
                except (ValueError, KeyError, TypeError):
                    continue
                if sequence > 0:
                    noted.setdefault(sequence, {}).setdefault(value, entry.get("at", "?"))
    except FileNotFoundError:
        return {}
    return noted
