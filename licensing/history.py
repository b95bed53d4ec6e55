"""A record's version history, and what a catalogue number resolved to at a moment.

Both read licensing's indexes (RecordState, FieldChange: see models) and the decisions they point at,
never the whole chain: a record's state at a moment is one indexed look-up per step of its master chain
(chains are flat, see CatalogueRecord.supersede, so one or two steps), a field's value one per field."""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from catalogue import access
from catalogue.models import CatalogueRecord, ImageFile
from dedup.models import CandidatePair
from review.models import Decision

from .models import FieldChange, RecordState

RIGHTS_FIELDS = ("rights", "credit_line")
# A decision's own field saves happen a moment before the decision row is written (same transaction).
_SAME_CHANGE = timedelta(seconds=10)


def end_of_day(day):
    """A licence date means the catalogue as it stood at the end of that day (local time)."""
    return timezone.make_aware(datetime.combine(day, time.max))


def state_at(record_id, moment):
    """(status, master id) of a record at moment: the last applied decision's after-state, or the
    state every record starts in."""
    row = (
        RecordState.objects.filter(record_id=record_id, at__lte=moment)
        .order_by("-at", "-sequence")
        .values_list("status", "master_id")
        .first()
    )
    return row or (CatalogueRecord.Status.ACTIVE, None)


def resolved_at(record, moment):
    """The record record's catalogue number resolved to at moment, following masters as they were."""
    current, seen = record, {record.pk}
    while True:
        _status, master_id = state_at(current.pk, moment)
        if master_id is None or master_id in seen:
            return current
        seen.add(master_id)
        current = CatalogueRecord.objects.select_related("collection").get(pk=master_id)


def fields_at(record, moment, names=RIGHTS_FIELDS):
    """The values names had at moment: the earliest later change's old value, else today's."""
    values = {}
    for name in names:
        later = (
            FieldChange.objects.filter(record=record, field=name, at__gt=moment)
            .order_by("at", "pk")
            .values_list("old", flat=True)
            .first()
        )
        values[name] = getattr(record, name) if later is None else later
    return values


def file_at(record, moment, sha256=""):
    """(image, exact) the record had at moment: the delivered file when its SHA-256 is known and among
    the record's files, else the newest file added by then. exact is False when the catalogue has no
    file from that time (imported later), and the earliest it knows is given instead."""
    images = ImageFile.objects.filter(record=record)
    if sha256:
        delivered = images.filter(sha256=sha256.lower()).order_by("created_at", "pk").first()
        if delivered is not None:
            return delivered, delivered.created_at <= moment
    then = images.filter(created_at__lte=moment).order_by("-created_at", "-pk").first()
    if then is not None:
        return then, True
    return images.order_by("created_at", "pk").first(), False


@dataclass
class Answer:
    """What a catalogue number meant at a moment, and what it means now."""

    moment: datetime
    record: CatalogueRecord  # the record the number names
    resolved_then: CatalogueRecord
    file_then: ImageFile | None
    file_then_exact: bool
    rights_then: dict
    own_rights_then: dict
    resolved_now: CatalogueRecord
    file_now: ImageFile | None
    rights_now: dict
    sha256: str = ""
    events_since: list = field(default_factory=list)

    @property
    def existed(self):
        return self.record.created_at <= self.moment

    @property
    def superseded_since(self):
        """The file delivered then is not what the number delivers today."""
        return (self.file_then and self.file_then.pk) != (self.file_now and self.file_now.pk)

    @property
    def master_changed(self):
        return self.resolved_then.pk != self.resolved_now.pk

    @property
    def merged_since(self):
        return any(e["event"] in ("merged", "superseded", "master-changed") for e in self.events_since)

    @property
    def rights_changed(self):
        return self.rights_then != self.rights_now

    @property
    def sha256_matches(self):
        """None when the licence kept no SHA-256; else whether the file found is the delivered one."""
        if not self.sha256:
            return None
        return bool(self.file_then and self.file_then.sha256 == self.sha256.lower())


def as_of(record, moment, user, sha256=""):
    """The answer for record's catalogue number at moment (see Answer); events the user may see."""
    then = resolved_at(record, moment)
    file_then, exact = file_at(then, moment, sha256)
    now = record.resolve()
    events = []
    for involved in dict.fromkeys((record, then, now)):
        events += [e for e in timeline(involved, user) if e["at"] > moment]
    events.sort(key=_order)
    return Answer(
        moment=moment,
        record=record,
        resolved_then=then,
        file_then=file_then,
        file_then_exact=exact,
        rights_then=fields_at(then, moment),
        own_rights_then=fields_at(record, moment),
        resolved_now=now,
        file_now=file_at(now, timezone.now())[0],
        rights_now={name: getattr(now, name) for name in RIGHTS_FIELDS},
        sha256=sha256,
        events_since=_unique(events),
    )


def _unique(events):
    seen, kept = set(), []
    for event in events:
        key = (event["event"], event.get("decision"), event.get("record"), event.get("image"), event["at"])
        if key not in seen:
            seen.add(key)
            kept.append(event)
    return kept


def _order(event):
    return (event["at"], event.get("sequence") or 0, event.get("image") or 0)


# --- the timeline -----------------------------------------------------------------------------------


def _decisions_of(record, user):
    """The decisions that touched record, found through indexes only (its states, the decisions'
    master / superseded / pair keys, the pairs' image keys): one OR across joins would scan the chain."""
    images = ImageFile.objects.filter(record=record).values_list("pk", flat=True)
    pairs = set(CandidatePair.objects.filter(image_a__in=images).values_list("pk", flat=True))
    pairs |= set(CandidatePair.objects.filter(image_b__in=images).values_list("pk", flat=True))
    ids = set(RecordState.objects.filter(record=record).values_list("decision_id", flat=True))
    ids |= set(Decision.objects.filter(master=record).values_list("pk", flat=True))
    ids |= set(Decision.objects.filter(superseded=record).values_list("pk", flat=True))
    ids |= set(Decision.objects.filter(pair__in=pairs).values_list("pk", flat=True))
    decisions = access.only_visible(Decision.objects.filter(pk__in=ids), user, *access.DECISION_COLLECTIONS)
    return list(decisions.select_related("actor").order_by("sequence", "pk"))


def _mine(states, record_id):
    return next((s for s in states or [] if s.get("record") == record_id), None)


def timeline(record, user):
    """Every file the record has had and every change of its status, master, fields and related links,
    in order, from the decision chain (undo, revert, approval and proposals included) and the field
    ledger (edits outside decisions). Each event: a dict with at, event, summary and the ids involved."""
    decisions = _decisions_of(record, user)
    numbers = _numbers(record, decisions)
    events = [
        {
            "at": record.created_at,
            "event": "created",
            "record": record.pk,
            "summary": _("record %(number)s entered the catalogue") % {"number": record.catalogue_number},
        }
    ]
    for image in record.images.order_by("created_at", "pk"):
        events.append(
            {
                "at": image.created_at,
                "event": "file-added",
                "record": record.pk,
                "image": image.pk,
                "sha256": image.sha256,
                "summary": _("file %(name)s added (%(w)d×%(h)d %(format)s, %(size)d bytes, SHA-256 %(sha)s…)")
                % {
                    "name": image.source_path,
                    "w": image.width,
                    "h": image.height,
                    "format": image.format,
                    "size": image.size,
                    "sha": image.sha256[:12],
                },
            }
        )
    for decision in decisions:
        events += _decision_events(record, decision, numbers)
    events += _edits(record, decisions)
    events.sort(key=_order)
    return events


def _numbers(record, decisions):
    ids = {record.pk}
    for decision in decisions:
        ids |= {s.get("master") for s in (*decision.before, *decision.after)} | {
            s.get("record") for s in (*decision.before, *decision.after)
        }
        ids |= {decision.master_id, decision.superseded_id}
        ids |= set(decision.effects.get("link_created") or decision.effects.get("link_removed") or [])
    ids.discard(None)
    return dict(CatalogueRecord.objects.filter(pk__in=ids).values_list("pk", "catalogue_number"))


def _who(decision):
    return (
        _("the system") if decision.automatic or decision.actor_id is None else decision.actor.get_username()
    )


def _decision_events(record, decision, numbers):
    base = {
        "at": decision.created_at,
        "decision": decision.pk,
        "sequence": decision.sequence,
        "kind": decision.kind,
        "actor": _who(decision),
        "record": record.pk,
        "corrects": decision.corrects_id,
        "approves": decision.approves_id,
    }
    words = {"who": base["actor"], "n": decision.pk, "kind": decision.get_kind_display()}
    if decision.approves_id:
        words["kind"] += " " + _("(approving proposal %(p)d)") % {"p": decision.approves_id}
    if decision.pending:
        return [
            {
                **base,
                "event": "proposed",
                "summary": _(
                    "%(who)s proposed %(kind)s (decision %(n)d), waiting for a supervisor's approval"
                )
                % words,
            }
        ]
    if decision.kind == Decision.Kind.DECLINE:
        return [
            {
                **base,
                "event": "declined",
                "summary": _("%(who)s declined proposal %(p)s (decision %(n)d)")
                % {**words, "p": decision.corrects_id},
            }
        ]
    events = []
    before, after = _mine(decision.before, record.pk), _mine(decision.after, record.pk)
    if (
        before
        and after
        and (before.get("status"), before.get("master")) != (after.get("status"), after.get("master"))
    ):
        events.append({**base, **_master_change(before, after, numbers, words, decision)})
    made_master = decision.kind == Decision.Kind.DUPLICATE and decision.superseded_id not in (None, record.pk)
    if made_master and decision.master_id == record.pk:
        words["other"] = numbers.get(decision.superseded_id, "?")
        summary = _("%(who)s made this record the master of %(other)s (%(kind)s, decision %(n)d)") % words
        events.append({**base, "event": "became-master", "summary": summary})
    merged = decision.effects.get("merged_fields") or {}
    if merged and decision.effects.get("master") == record.pk:
        changes = {name: [m.get("previous"), m.get("value")] for name, m in merged.items()}
        events.append(
            {
                **base,
                "event": "merged",
                "changes": changes,
                "summary": _("%(who)s merged %(fields)s from %(from)s into this record (decision %(n)d)")
                % {
                    **words,
                    "fields": ", ".join(merged),
                    "from": next(iter(merged.values())).get("from_number", ""),
                },
            }
        )
    elif (
        before
        and after
        and before.get("fields") != after.get("fields")
        and decision.kind in (Decision.Kind.UNDO, Decision.Kind.REVERT)
    ):
        changes = {
            name: [before["fields"].get(name), value]
            for name, value in (after.get("fields") or {}).items()
            if before.get("fields", {}).get(name) != value
        }
        if changes:
            events.append(
                {
                    **base,
                    "event": "fields-restored",
                    "changes": changes,
                    "summary": _("%(who)s restored %(fields)s (%(kind)s of decision %(c)s, decision %(n)d)")
                    % {**words, "fields": ", ".join(changes), "c": decision.corrects_id},
                }
            )
    link = decision.effects.get("link_created") or decision.effects.get("link_removed")
    if link and record.pk in link:
        other = numbers.get(next(pk for pk in link if pk != record.pk), "?")
        if decision.effects.get("link_created"):
            events.append(
                {
                    **base,
                    "event": "related",
                    "summary": _("%(who)s linked this record as related to %(other)s (decision %(n)d)")
                    % {**words, "other": other},
                }
            )
        else:
            events.append(
                {
                    **base,
                    "event": "unrelated",
                    "summary": _("%(who)s removed the related link to %(other)s (%(kind)s, decision %(n)d)")
                    % {**words, "other": other},
                }
            )
    if (decision.evidence or {}).get("updated_version"):
        for event in events:
            if event["event"] in ("superseded", "became-master"):
                event["updated_version"] = True
                event["summary"] += " · " + _("an updated version from the rights holder")
    if not events:
        summary = _("%(who)s: %(kind)s (decision %(n)d)") % words
        if decision.corrects_id:
            summary += " · " + _("corrects decision %(c)d") % {"c": decision.corrects_id}
        if decision.reason:
            summary += " · " + decision.reason
        events.append({**base, "event": decision.kind, "summary": summary})
    return events


def _master_change(before, after, numbers, words, decision):
    old, new = before.get("master"), after.get("master")
    words = {**words, "old": numbers.get(old, "—"), "new": numbers.get(new, "—")}
    if decision.kind in (Decision.Kind.UNDO, Decision.Kind.REVERT):
        text = _(
            "%(who)s put back the state before decision %(c)s (%(kind)s, decision %(n)d): "
            "master %(new)s, was %(old)s"
        ) % {**words, "c": decision.corrects_id}
        return {"event": "restored", "master_before": old, "master_after": new, "summary": text}
    if old is None:
        text = _("%(who)s superseded this record by %(new)s (%(kind)s, decision %(n)d)") % words
        return {"event": "superseded", "master_before": old, "master_after": new, "summary": text}
    text = _("%(who)s moved this record's master from %(old)s to %(new)s (%(kind)s, decision %(n)d)") % words
    return {"event": "master-changed", "master_before": old, "master_after": new, "summary": text}


def _edits(record, decisions):
    """Field changes no decision explains: an administrator's edit, an import's, the API's."""
    by_decision = []
    for decision in decisions:
        for state in decision.after:
            if state.get("record") == record.pk and state.get("fields"):
                by_decision.append((decision.created_at, state["fields"]))
    events = []
    for change in FieldChange.objects.filter(record=record).order_by("at", "pk"):
        explained = any(
            change.at <= at <= change.at + _SAME_CHANGE and fields.get(change.field) == change.new
            for at, fields in by_decision
        )
        if not explained:
            events.append(
                {
                    "at": change.at,
                    "event": "edited",
                    "record": record.pk,
                    "changes": {change.field: [change.old, change.new]},
                    "summary": _("%(field)s edited outside a decision: “%(old)s” → “%(new)s”")
                    % {"field": change.field, "old": change.old, "new": change.new},
                }
            )
    return events
