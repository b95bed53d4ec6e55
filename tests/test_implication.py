"""review.implication, the plain core of implied decisions: what the decisions already taken answer
about a pair of records, which decisions it follows from, and when they contradict each other.
Runs without Django too (`pytest -p no:django`)."""

from review.implication import DISTINCT, DUPLICATE, RELATED, Facts, Implied
from tests.test_layering import is_plain_core


def test_the_core_imports_nothing_of_django():
    assert is_plain_core("review.implication")


def test_a_equals_b_and_b_equals_c_imply_a_equals_c_citing_both():
    # Decision 1: A (1) master of B (2); decision 2: B master of C (3), flattened under A.
    facts = Facts({1: 1, 2: 1, 3: 1}, duplicates=[(1, 1, 2), (2, 2, 3)])

    assert facts.implied(1, 3) == Implied(DUPLICATE, (1, 2), {})
    assert facts.implied(3, 1) == Implied(DUPLICATE, (1, 2), {})
    assert facts.implied(2, 3) == Implied(DUPLICATE, (2,), {})


def test_the_shortest_chain_of_decisions_is_cited():
    # A=B, B=C, C=D and also A=D: A–C follows from two decisions either way, A–D from one.
    facts = Facts({n: 1 for n in (1, 2, 3, 4)}, duplicates=[(1, 1, 2), (2, 2, 3), (3, 3, 4), (4, 1, 4)])

    assert facts.implied(1, 4).because == (4,)
    assert len(facts.implied(1, 3).because) == 2


def test_records_in_different_groups_imply_nothing_without_a_link():
    facts = Facts({1: 1, 2: 1, 3: 3, 4: 3}, duplicates=[(1, 1, 2), (2, 3, 4)])

    assert facts.implied(2, 4) is None
    assert facts.implied(5, 6) is None  # records nobody decided anything about


def test_the_same_record_twice_needs_no_decision():
    assert Facts({1: 1}).implied(1, 1) is None


def test_a_related_to_b_and_b_equals_c_imply_a_related_to_c():
    # Decision 1: A (1) related to B (2); decision 2: C (3) master of B: the link carries to C.
    facts = Facts({1: 1, 2: 3, 3: 3}, duplicates=[(2, 3, 2)], related=[(1, 1, 2)])

    assert facts.implied(1, 3) == Implied(RELATED, (1, 2), {})
    assert facts.implied(3, 1) == Implied(RELATED, (1, 2), {})


def test_one_side_distinct_from_a_record_the_other_is_the_same_as():
    # Decision 1: A not related to B; decision 2: B = C; decision 3: D = A. D–C is not related.
    facts = Facts({1: 1, 4: 1, 2: 2, 3: 2}, duplicates=[(2, 2, 3), (3, 1, 4)], distinct=[(1, 1, 2)])

    assert facts.implied(4, 3) == Implied(DISTINCT, (1, 2, 3), {})


def test_related_is_not_transitive():
    # A related B, B related C: nothing follows for A–C.
    facts = Facts({1: 1, 2: 2, 3: 3}, related=[(1, 1, 2), (2, 2, 3)])

    assert facts.implied(1, 3) is None


def test_records_of_one_group_decided_not_related_contradict():
    # A = B, B = C, and yet A and C were decided not related: A–C (or B–C) is a supervisor's question.
    facts = Facts({1: 1, 2: 1, 3: 1}, duplicates=[(1, 1, 2), (2, 2, 3)], distinct=[(3, 1, 3)])

    found = facts.implied(2, 3)

    assert found.kind is None
    assert found.conflict == {DUPLICATE: (2,), DISTINCT: (1, 3)}
    assert found.because == (1, 2, 3)


def test_two_groups_both_related_and_not_related_contradict():
    facts = Facts({1: 1, 2: 1, 3: 3}, duplicates=[(1, 1, 2)], related=[(2, 1, 3)], distinct=[(3, 2, 3)])

    assert facts.implied(1, 3).conflict == {RELATED: (2,), DISTINCT: (1, 3)}


def test_a_duplicate_decision_across_groups_joins_nothing():
    # A revert moved B out of A's group while decision 1 still stands: it no longer joins A and B.
    facts = Facts({1: 1, 2: 2, 3: 2}, duplicates=[(1, 1, 2), (2, 2, 3)])

    assert facts.implied(1, 3) is None
    assert facts.implied(2, 3).because == (2,)


def test_a_group_without_a_path_of_decisions_implies_nothing():
    # The catalogue says one group, but no standing decision joins the two: nothing to cite.
    assert Facts({1: 1, 2: 1}).implied(1, 2) is None


def test_many_groups_at_once_are_answered_each_by_their_own_decisions():
    # 50 groups of A=B, B=C; each A–C cites its own two decisions, never another group's.
    roots, duplicates = {}, []
    for g in range(50):
        a, b, c = 10 * g, 10 * g + 1, 10 * g + 2
        roots.update({a: a, b: a, c: a})
        duplicates += [(2 * g, a, b), (2 * g + 1, b, c)]
    facts = Facts(roots, duplicates)

    answers = [facts.implied(10 * g, 10 * g + 2) for g in range(50)]

    assert [answer.because for answer in answers] == [(2 * g, 2 * g + 1) for g in range(50)]
    assert facts.implied(0, 12) is None
