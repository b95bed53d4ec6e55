"""Which decision made a record's current mapping: the exports' "decided by" and "decided at".

A decision records the state of every record it touched, before and after, so a later decision on
another pair that merely touches an already superseded record (its master is kept; it was only
locked and noted) carries that record as superseded in its `after` too. Crediting it would name the
later person, at the later time, for what an earlier decision did (a system settlement credited to
the cataloguer who decided a neighbouring pair). The decision that counts is the one in which the
record *became* what it is now: superseded, by the master it has now.
"""

from catalogue.models import CatalogueRecord

from .models import Decision

SUPERSEDED = CatalogueRecord.Status.SUPERSEDED


def deciding(decisions):
    """{record id: the decision that superseded it by its current master, and frozenset of two record
    ids: the first decision that related them} among standing decisions (duplicate and related, not
    pending), read in chain order. decisions: a Decision queryset, already filtered by the caller."""
    decided = {}
    rows = decisions.filter(
        kind__in=[Decision.Kind.DUPLICATE, Decision.Kind.RELATED], pending=False
    ).select_related("actor", "approves__actor", "pair__image_a", "pair__image_b")
    for decision in rows.order_by("sequence", "pk").iterator(chunk_size=1000):
        if decision.kind == Decision.Kind.RELATED and decision.pair_id:
            key = frozenset((decision.pair.image_a.record_id, decision.pair.image_b.record_id))
            decided.setdefault(key, decision)
        before = {state["record"]: state for state in decision.before}
        for state in decision.after:
            if state.get("status") != SUPERSEDED:
                continue
            earlier = before.get(state["record"], {})
            if earlier.get("status") != SUPERSEDED or earlier.get("master") != state.get("master"):
                decided[state["record"]] = decision
    return decided


def credit(decision):
    """Who decided and when, and who approved it and when: a proposal a two-person rule held is its
    proposer's decision, made when proposed; the supervisor's approval that applied it is the approval.
    Empty strings for no decision."""
    if decision is None:
        return {"decided_by": "", "decided_at": "", "approved_by": "", "approved_at": ""}
    proposal = decision.approves if decision.approves_id else None
    decided = proposal or decision
    return {
        "decided_by": who(decided),
        "decided_at": decided.created_at.isoformat(),
        "approved_by": who(decision) if proposal else "",
        "approved_at": decision.created_at.isoformat() if proposal else "",
    }


def who(decision):
    """The actor's user name, "system" for an automatic decision, "" for none."""
    if decision is None:
        return ""
    return "system" if decision.actor_id is None else decision.actor.get_username()
