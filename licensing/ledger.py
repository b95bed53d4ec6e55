"""Keeps licensing's two indexes of the past (RecordState, FieldChange) as changes happen, through
signals, so neither catalogue nor review needs to know licensing exists."""

from django.db.models.signals import post_init, post_save
from django.utils import timezone

from catalogue.models import CatalogueRecord
from review.models import Decision, decisions_recorded

_STASH = "_licensing_fields"


def connect():
    post_init.connect(_remember_fields, sender=CatalogueRecord, dispatch_uid="licensing-remember")
    post_save.connect(_record_saved, sender=CatalogueRecord, dispatch_uid="licensing-record-saved")
    post_save.connect(_decision_saved, sender=Decision, dispatch_uid="licensing-decision-saved")
    decisions_recorded.connect(
        _decisions_recorded, sender=Decision, dispatch_uid="licensing-decisions-recorded"
    )


def _tracked():
    from .models import TRACKED_FIELDS

    return TRACKED_FIELDS


def _remember_fields(sender, instance, **kwargs):
    # __dict__, not getattr: a deferred field must not cost a query just because a row was loaded.
    setattr(
        instance, _STASH, {name: instance.__dict__[name] for name in _tracked() if name in instance.__dict__}
    )


def _record_saved(sender, instance, created, update_fields=None, raw=False, **kwargs):
    from .models import FieldChange

    known = getattr(instance, _STASH, {})
    if not created and not raw:
        now = timezone.now()
        changes = [
            FieldChange(
                record=instance, field=name, old=old or "", new=instance.__dict__.get(name) or "", at=now
            )
            for name, old in known.items()
            if (update_fields is None or name in update_fields) and instance.__dict__.get(name) != old
        ]
        FieldChange.objects.bulk_create(changes)
    _remember_fields(sender, instance)


def _decision_saved(sender, instance, created, raw=False, **kwargs):
    if created and not raw and not instance.pending:
        from .models import RecordState

        RecordState.objects.bulk_create(states_of(instance, RecordState), ignore_conflicts=True)


def _decisions_recorded(sender, decisions, **kwargs):
    from .models import RecordState

    states = [state for d in decisions if not d.pending for state in states_of(d, RecordState)]
    RecordState.objects.bulk_create(states, batch_size=2000, ignore_conflicts=True)


def states_of(decision, model):
    """The RecordState rows of one applied decision (model: the class, or the migration's copy)."""
    return [
        model(
            record_id=state["record"],
            decision_id=decision.pk,
            at=decision.created_at,
            sequence=decision.sequence,
            status=state["status"],
            master_id=state["master"],
        )
        for state in decision.after or []
        if "record" in state and "status" in state
    ]


def field_changes_of(decision, model):
    """The FieldChange rows a decision's recorded before/after fields imply (for the back-fill)."""
    before = {s["record"]: s.get("fields", {}) for s in decision.before or [] if "record" in s}
    changes = []
    for state in decision.after or []:
        for name, value in state.get("fields", {}).items():
            old = before.get(state.get("record"), {}).get(name)
            if old is not None and old != value:
                changes.append(
                    model(record_id=state["record"], field=name, old=old, new=value, at=decision.created_at)
                )
    return changes


def rebuild(decision_model, state_model, change_model, stdout=None):
    """Fill the indexes from the decision chain (migration 0002; safe to run again for RecordState).
    Field changes made by edits before licensing was installed are not in the chain and stay unknown."""
    existing = set(state_model.objects.values_list("decision_id", flat=True).distinct())
    decisions = decision_model.objects.filter(pending=False).order_by("sequence", "pk")
    states, changes = [], []
    for decision in decisions.iterator(chunk_size=2000):
        if decision.pk in existing:
            continue
        states += states_of(decision, state_model)
        changes += field_changes_of(decision, change_model)
        if len(states) > 5000:
            state_model.objects.bulk_create(states, ignore_conflicts=True)
            states = []
    state_model.objects.bulk_create(states, ignore_conflicts=True)
    change_model.objects.bulk_create(changes, batch_size=2000)
