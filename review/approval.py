"""Two-person rules: decisions of chosen kinds take effect only after a supervisor approves them.

A collection's policy names the rules (dedup.policy, key ``approval_rules``):

- ``rights_differ``: a *duplicate* where the two records' rights/licence, credit line or collection
  owner differ (superseding one would change which licence a client's catalogue number leads to);
- ``duplicate`` / ``related`` / ``distinct``: every decision of that kind;
- ``new_cataloguer``: every decision of someone with fewer than ``approval_experience`` decisions that
  took effect (their own, or their proposals a supervisor approved); supervisors are not new.

For a pair across two collections the rules of both apply. A decision a rule catches is recorded as a
*pending* Decision: it is in the log, with its proposer, the proposed master and merge and the rules
that held it, but it changes nothing in the catalogue, and the pair's queue item waits (status pending).
A supervisor other than the proposer then approves it, which applies it exactly as the screen would
have and records the applied decision with ``approves`` pointing at the proposal, or declines it (a
decision of kind decline that corrects the proposal), which sends the pair back to the queue.
"""

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from catalogue.models import CatalogueRecord
from catalogue.roles import SUPERVISE
from dedup import policy
from dedup.tiers import rights_differences

from . import decisions, implied
from .models import Decision, ReviewItem


class ApprovalError(decisions.ReviewError):
    """A refused approval or decline, said to the user."""


def experience(user):
    """How many of user's decisions took effect: applied directly, or proposed and then approved."""
    own = Decision.objects.filter(actor=user, automatic=False, kind__in=decisions.SETTLING)
    return own.filter(pending=False, approves__isnull=True).count() + (
        own.filter(pending=True).filter(Exists(Decision.objects.filter(approves=OuterRef("pk")))).count()
    )


def _rights_differ(a, b):
    return bool(
        rights_differences(
            (a.rights, b.rights),
            (a.credit_line, b.credit_line),
            (a.collection.institution, b.collection.institution),
        )
    )


def reasons(pair, kind, user):
    """Why this decision needs a supervisor's approval under the pair's collections' rules ([] if not)."""
    if kind not in decisions.SETTLING:
        return []
    policies = [policy.for_collection(c) for c in {pair.image_a.collection, pair.image_b.collection}]
    rules = {rule for p in policies for rule in p["approval_rules"]}
    if not rules:
        return []
    found = []
    a, b = pair.image_a.record, pair.image_b.record
    if "rights_differ" in rules and kind == Decision.Kind.DUPLICATE and _rights_differ(a, b):
        found.append(_("the records' rights, credit line or owner differ"))
    if kind in rules:
        found.append(_("every %(kind)s decision needs approval") % {"kind": Decision.Kind(kind).label})
    if "new_cataloguer" in rules and not user.has_perm(SUPERVISE):
        needed = max(int(p["approval_experience"]) for p in policies)
        done = experience(user)
        if done < needed:
            found.append(
                _("%(user)s has %(done)d of the %(needed)d decisions a cataloguer needs to decide alone")
                % {"user": user.get_username(), "done": done, "needed": needed}
            )
    return found


def propose(item, pair, user, kind, master_side, comment, merge, why, batch=None):
    """Record the decision as pending and park the item; inside review()'s transaction."""
    master = superseded = None
    if kind == Decision.Kind.DUPLICATE:
        master_image, other = (
            (pair.image_b, pair.image_a) if master_side == "right" else (pair.image_a, pair.image_b)
        )
        master, superseded = master_image.record, other.record
    a, b = pair.image_a.record, pair.image_b.record
    decision = decisions.record(
        kind,
        pair=pair,
        master=master,
        superseded=superseded if superseded and superseded.pk != getattr(master, "pk", None) else None,
        actor=user,
        pending=True,
        comment=comment,
        reason=_("waits for a supervisor's approval: %(why)s") % {"why": "; ".join(why)},
        evidence={
            **decisions.pair_evidence(pair),
            "master_side": master_side,
            "merge": list(merge),
            "approval_reasons": why,
        },
        before=decisions.record_states(a, b),
        after=decisions.record_states(a, b),
        batch=batch,
    )
    item.await_approval(decision)
    return decision


def waiting():
    """Proposals waiting for approval: pending, neither approved nor declined (nor withdrawn)."""
    # NOT EXISTS rather than outer joins: the approvals page walks the waiting ones oldest first along
    # review_decision_pending_created and stops at its page's 50.
    return Decision.objects.filter(pending=True).exclude(
        Exists(Decision.objects.filter(corrects=OuterRef("pk")))
    ).exclude(Exists(Decision.objects.filter(approves=OuterRef("pk"))))


def is_waiting(decision):
    return decision.pending and not decision.corrections.exists() and not decision.approvals.exists()


def _locked_proposal(pk, supervisor):
    """Inside a chain_transaction: the chain lock is already the transaction's first lock."""
    proposal = (
        Decision.objects.select_related("pair__image_a__record", "pair__image_b__record", "actor")
        .filter(pk=pk)
        .first()
    )
    if proposal is None or not proposal.pending:
        raise ApprovalError(_("There is no such decision waiting for approval."))
    if not is_waiting(proposal):
        raise ApprovalError(_("This decision has already been approved, declined or withdrawn."))
    if proposal.actor_id == supervisor.pk:
        raise ApprovalError(_("A second person must approve: you proposed this decision yourself."))
    item = ReviewItem.objects.select_for_update().filter(pair_id=proposal.pair_id).first()
    return proposal, item


def _proposal_words(proposal):
    return {
        "kind": proposal.get_kind_display(),
        "user": proposal.actor.get_username() if proposal.actor else "—",
    }


@decisions.chain_transaction()
def approve(pk, supervisor, comment="", batch=None):
    """Apply a waiting proposal as its proposer chose it; returns the applied Decision. Refused if the
    catalogue has since changed so that it would contradict earlier decisions."""
    proposal, item = _locked_proposal(pk, supervisor)
    pair = proposal.pair
    conflict = decisions.contradiction(pair, proposal.kind)
    if conflict:
        raise ApprovalError(
            _("Cannot approve: %(why)s. Decline it, or decide the pair anew.") % {"why": conflict}
        )
    reason = _("approves %(kind)s proposed by %(user)s") % _proposal_words(proposal)
    if proposal.kind == Decision.Kind.DUPLICATE:
        master = CatalogueRecord.objects.get(pk=proposal.master_id)
        decision = decisions.decide_duplicate(
            pair,
            master,
            actor=supervisor,
            reason=reason,
            comment=comment,
            merge=proposal.evidence.get("merge", ()),
            approves=proposal,
            batch=batch,
        )
    else:
        decision = decisions.decide(
            pair,
            proposal.kind,
            actor=supervisor,
            reason=reason,
            comment=comment,
            approves=proposal,
            batch=batch,
        )
    return decision


@decisions.chain_transaction()
def decline(pk, supervisor, comment="", batch=None):
    """Send a waiting proposal back: recorded as a decline that corrects it; the pair returns to the
    queue for anyone to decide again."""
    proposal, item = _locked_proposal(pk, supervisor)
    a, b = proposal.pair.image_a.record, proposal.pair.image_b.record
    decision = decisions.record(
        Decision.Kind.DECLINE,
        pair=proposal.pair,
        actor=supervisor,
        corrects=proposal,
        comment=comment,
        reason=_("declines %(kind)s proposed by %(user)s") % _proposal_words(proposal),
        evidence={"proposal": proposal.pk},
        before=decisions.record_states(a, b),
        after=decisions.record_states(a, b),
        batch=batch,
    )
    if item is not None:
        item.reopen()
        implied.settle_pairs([proposal.pair_id])  # decided meanwhile by other decisions: closed again
    return decision


def shown(pks):
    """{pk: proposal} of these proposals with what the approvals page shows: the pair's images and
    records joined, the people and records read after (fewer tables for PostgreSQL to plan)."""
    return (
        Decision.objects.filter(pk__in=pks)
        .select_related("pair__image_a__record", "pair__image_b__record", "pair__review_item")
        .prefetch_related("actor", "master", "superseded")
        .in_bulk()
    )


def waiting_list(collection=None, related=True):
    """The waiting proposals, oldest first, with what the approvals page shows (related=False: the
    bare rows, to count and page them)."""
    proposals = waiting()
    if related:
        proposals = proposals.select_related(
            "actor",
            "master",
            "superseded",
            "pair__image_a__record",
            "pair__image_b__record",
            "pair__review_item",
        )
    if collection is not None:
        proposals = proposals.filter(
            Q(pair__image_a__collection=collection) | Q(pair__image_b__collection=collection)
        )
    return proposals.order_by("created_at", "pk")
