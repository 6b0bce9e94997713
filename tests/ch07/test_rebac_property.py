"""ReBAC check, closure index and SQL agree with a brute-force fixpoint on random tuple sets."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert

from clouddocs.rebac import (
    INHERITED,
    ClosureIndex,
    RelationTuple,
    TupleGraph,
    TupleRow,
    brute_force_facts,
    check,
    check_statement,
    explain,
    list_objects,
    list_objects_statement,
    row_values,
)

DOCUMENTS = ["document:d1", "document:d2", "document:d3"]
FOLDERS = ["folder:f1", "folder:f2", "folder:f3"]
GROUPS = ["group:g1", "group:g2", "group:g3"]
USERS = ["user:a", "user:b", "user:c"]
SUBJECTS = st.one_of(
    st.sampled_from(USERS).map(lambda u: (u, "")),
    st.sampled_from(GROUPS).map(lambda g: (g, "member")),
)


@st.composite
def relation_tuple(draw: st.DrawFn) -> RelationTuple:
    kind = draw(st.sampled_from(["grant", "parent", "member"]))
    if kind == "member":
        subject, userset = draw(SUBJECTS)
        return RelationTuple(draw(st.sampled_from(GROUPS)), "member", subject, userset)
    if kind == "parent":  # folders inside folders (cycles allowed) and documents in folders
        return RelationTuple(
            draw(st.sampled_from(DOCUMENTS + FOLDERS)), "parent", draw(st.sampled_from(FOLDERS))
        )
    subject, userset = draw(SUBJECTS)
    relation = draw(st.sampled_from(sorted(INHERITED)))
    return RelationTuple(draw(st.sampled_from(DOCUMENTS + FOLDERS)), relation, subject, userset)


tuple_sets = st.sets(relation_tuple(), max_size=18)
QUESTIONS = [(o, r, u) for o in DOCUMENTS + FOLDERS for r in sorted(INHERITED) for u in USERS] + [
    (g, "member", u) for g in GROUPS for u in USERS
]


@settings(max_examples=250, deadline=None)
@given(tuple_sets)
def test_check_and_closure_index_agree_with_brute_force(tuples: set[RelationTuple]) -> None:
    facts = brute_force_facts(tuples)
    graph, index = TupleGraph(tuples), ClosureIndex(tuples)
    for question in QUESTIONS:
        expected = question in facts
        assert check(graph, *question) is expected, (sorted(map(str, tuples)), question)
        assert index.check(*question) is expected, (sorted(map(str, tuples)), question)


@settings(max_examples=250, deadline=None)
@given(tuple_sets)
def test_explain_returns_real_tuples_that_lead_to_the_user(tuples: set[RelationTuple]) -> None:
    graph = TupleGraph(tuples)
    for object, relation, user in QUESTIONS:
        path = explain(graph, object, relation, user)
        if path is None:
            continue
        assert set(path) <= tuples and path[0].object == object and path[-1].subject == user


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tuple_sets)
def test_sql_check_and_list_objects_agree_with_brute_force(tuples: set[RelationTuple]) -> None:
    facts = brute_force_facts(tuples)
    graph = TupleGraph(tuples)
    engine = create_engine("sqlite://")
    TupleRow.metadata.create_all(engine, tables=[TupleRow.__table__])
    with engine.connect() as connection:
        if tuples:
            connection.execute(insert(TupleRow), [row_values(t) for t in tuples])
        for question in QUESTIONS:
            row = connection.execute(check_statement(*question)).first()
            assert (row is not None) is (question in facts), (sorted(map(str, tuples)), question)
        for relation in sorted(INHERITED):
            for user in USERS:
                listed = [
                    r[0]
                    for r in connection.execute(list_objects_statement("document", relation, user))
                ]
                assert listed == list_objects(graph, "document", relation, user)
                assert listed == sorted(o for o in DOCUMENTS if (o, relation, user) in facts)
    engine.dispose()


def test_a_typo_in_a_tuple_is_refused() -> None:
    for text in [
        "document:d1#veiwer@user:a",
        "group:g1#member@folder:f1",
        "document:d1#viewer@user:a#member",
        "x",
    ]:
        try:
            RelationTuple.parse(text)
        except ValueError:
            continue
        raise AssertionError(f"{text} was accepted")
