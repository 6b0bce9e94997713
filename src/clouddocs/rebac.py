# Generated from notebooks/07_authorization.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Relationship-based access control (ReBAC) in the style of Google's Zanzibar.

A *relation tuple* states one fact: ``document:d1#viewer@user:alice`` (alice views d1),
``document:d1#parent@folder:f1`` (d1 sits in folder f1), ``group:eng#member@group:backend#member``
(every member of backend is a member of eng). The schema derives everything else:

- owner ⇒ editor ⇒ viewer on the same object (computed relations);
- a folder's owners, editors and viewers hold the same relation on what the folder contains;
- ``group:g#member`` as a subject means "every member of g", groups nest, cycles included.

Three ways to answer ``check``: :func:`check` walks the tuples (the naive traversal, the
reference), :class:`ClosureIndex` precomputes group and folder closures, and
:func:`check_statement` asks the database with one recursive CTE.
"""

import re
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import MappingProxyType

#: Subjects that are one user, and subjects that are "everyone holding a relation".
USER_TYPE = "user"
PARENT = "parent"
MEMBER = "member"

#: Computed relations: which stored relations grant each relation (strongest last).
IMPLIED_BY = MappingProxyType(
    {
        "viewer": ("viewer", "editor", "owner"),
        "editor": ("editor", "owner"),
        "owner": ("owner",),
        MEMBER: (MEMBER,),
    }
)
#: Relations that flow from a folder down to its documents and sub-folders.
INHERITED = frozenset({"viewer", "editor", "owner"})
#: The schema: the relations each object type has, and the subjects each may point at.
SCHEMA = MappingProxyType(
    {
        ("document", "owner"): ("user", "group#member"),
        ("document", "editor"): ("user", "group#member"),
        ("document", "viewer"): ("user", "group#member"),
        ("document", PARENT): ("folder",),
        ("folder", "owner"): ("user", "group#member"),
        ("folder", "editor"): ("user", "group#member"),
        ("folder", "viewer"): ("user", "group#member"),
        ("folder", PARENT): ("folder",),
        ("group", MEMBER): ("user", "group#member"),
    }
)

_NAME = r"[a-z][a-z_]{0,31}"
_ID = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}"
TUPLE_SYNTAX = re.compile(
    rf"(?P<object>{_NAME}:{_ID})#(?P<relation>{_NAME})@(?P<subject>{_NAME}:{_ID})(?:#(?P<subject_relation>{_NAME}))?"
)


class InvalidTuple(ValueError):
    """A tuple that does not parse, or that the schema does not allow."""


@dataclass(frozen=True, order=True, slots=True)
class RelationTuple:
    """``object#relation@subject[#subject_relation]``; objects are ``type:id`` strings."""

    object: str
    relation: str
    subject: str
    subject_relation: str = ""

    @classmethod
    def parse(cls, text: str) -> "RelationTuple":
        match = TUPLE_SYNTAX.fullmatch(text)
        if match is None:
            raise InvalidTuple(f"not a relation tuple: {text[:80]!r}")
        parsed = cls(
            match["object"], match["relation"], match["subject"], match["subject_relation"] or ""
        )
        parsed.validate()
        return parsed

    @property
    def subject_key(self) -> str:
        """The subject as one string: ``user:alice`` or ``group:eng#member``."""
        return f"{self.subject}#{self.subject_relation}" if self.subject_relation else self.subject

    def validate(self) -> None:
        """Refuse tuples outside :data:`SCHEMA` (a typo must not become a silent grant)."""
        object_type = self.object.split(":", 1)[0]
        subject_type = self.subject.split(":", 1)[0]
        shape = f"{subject_type}#{self.subject_relation}" if self.subject_relation else subject_type
        if shape not in SCHEMA.get((object_type, self.relation), ()):
            raise InvalidTuple(f"the schema does not allow {self}")

    def __str__(self) -> str:
        return f"{self.object}#{self.relation}@{self.subject_key}"


class TupleGraph:
    """Tuples indexed both ways, in memory: what the traversals walk.

    ``subjects_of(object, relation)`` answers "who holds this directly?" (the forward edge
    ``check`` follows); ``holders_of(subject_key)`` answers "what does this subject hold
    directly?" (the reverse edge ``list_objects`` follows).
    """

    def __init__(self, tuples: Iterable[RelationTuple] = ()) -> None:
        self._subjects: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
        self._holders: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
        self._count = 0
        for relation_tuple in tuples:
            self.add(relation_tuple)

    def add(self, t: RelationTuple) -> None:
        self._subjects[(t.object, t.relation)].append(t.subject_key)
        self._holders[t.subject_key].append((t.object, t.relation))
        self._count += 1

    def subjects_of(self, object: str, relation: str) -> Sequence[str]:
        return self._subjects.get((object, relation), ())

    def holders_of(self, subject_key: str) -> Sequence[tuple[str, str]]:
        return self._holders.get(subject_key, ())

    def __len__(self) -> int:
        return self._count


#: A node of the graph: "holding ``relation`` on ``object``".
Node = tuple[str, str]


def _edges(graph: TupleGraph, node: Node) -> Iterable[tuple[RelationTuple, Node | None]]:
    """What one node expands to: (the tuple followed, the next node, or None for a user)."""
    object, relation = node
    for stronger in IMPLIED_BY.get(relation, (relation,)):
        for subject in graph.subjects_of(object, stronger):
            name, _, userset = subject.partition("#")
            edge = RelationTuple(object, stronger, name, userset)
            yield edge, ((name, userset) if userset else None)
    if relation in INHERITED:
        for folder in graph.subjects_of(object, PARENT):
            yield RelationTuple(object, PARENT, folder), (folder, relation)


def explain(graph: TupleGraph, object: str, relation: str, user: str) -> list[RelationTuple] | None:
    """The tuples that grant ``user`` ``relation`` on ``object`` (shortest path), or None.

    A breadth-first walk with a *visited* set: each (object, relation) node is expanded at
    most once, so a cycle (group a ∋ b ∋ a, a folder inside itself) ends the walk instead
    of looping forever.
    """
    start: Node = (object, relation)
    came_from: dict[Node, tuple[Node, RelationTuple] | None] = {start: None}
    queue: deque[Node] = deque([start])
    while queue:
        node = queue.popleft()
        for edge, next_node in _edges(graph, node):
            if next_node is None:
                if edge.subject == user:
                    return _path(came_from, node) + [edge]
            elif next_node not in came_from:
                came_from[next_node] = (node, edge)
                queue.append(next_node)
    return None


def _path(came_from: dict[Node, tuple[Node, RelationTuple] | None], node: Node) -> list[RelationTuple]:
    path: list[RelationTuple] = []
    step = came_from[node]
    while step is not None:
        node, edge = step
        path.append(edge)
        step = came_from[node]
    return path[::-1]


def check(graph: TupleGraph, object: str, relation: str, user: str) -> bool:
    """Does ``user`` (``"user:alice"``) hold ``relation`` on ``object``? The naive traversal."""
    return explain(graph, object, relation, user) is not None


def list_objects(graph: TupleGraph, object_type: str, relation: str, user: str) -> list[str]:
    """Every ``object_type`` object on which ``user`` holds ``relation``, sorted.

    The walk runs backwards from the user: what they hold directly, what their groups hold,
    then down from each folder to what it contains. Visited nodes are never expanded twice.
    """
    wanted, prefix = IMPLIED_BY.get(relation, (relation,)), object_type + ":"
    seen: set[Node] = set()
    queue: deque[Node] = deque((object, held) for object, held in graph.holders_of(user))
    found: set[str] = set()
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        object, held = node
        if held in wanted and object.startswith(prefix):
            found.add(object)
        # Everyone holding (object, held) as a userset inherits what that userset holds.
        queue.extend(graph.holders_of(f"{object}#{held}"))
        if held in INHERITED:
            # What sits in this folder: tuples "<child>#parent@<object>".
            queue.extend((child, held) for child, rel in graph.holders_of(object) if rel == PARENT)
    return sorted(found)


def brute_force_facts(tuples: Iterable[RelationTuple]) -> set[tuple[str, str, str]]:
    """Every (object, relation, user) the schema derives, by fixpoint iteration.

    Slow and obviously right: apply every rule to every fact until nothing new appears.
    The property test compares :func:`check` and :class:`ClosureIndex` against it.
    """
    tuples = list(tuples)
    facts = {(t.object, t.relation, t.subject) for t in tuples if not t.subject_relation}
    while True:
        new: set[tuple[str, str, str]] = set()
        for object, relation, user in facts:
            for weaker, grants in IMPLIED_BY.items():
                if relation in grants:
                    new.add((object, weaker, user))
        for t in tuples:
            for object, relation, user in facts:
                if t.subject_relation and (t.subject, t.subject_relation) == (object, relation):
                    new.add((t.object, t.relation, user))
                if t.relation == PARENT and t.subject == object and relation in INHERITED:
                    new.add((t.object, relation, user))
        if new <= facts:
            return facts
        facts |= new


from sqlalchemy import Index, String, TextClause, UniqueConstraint, bindparam, text
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.db import Base


class TupleRow(Base):
    """One relation tuple, stored. ``subject_relation`` is ``''`` for a plain subject."""

    __tablename__ = "relation_tuples"
    __table_args__ = (
        UniqueConstraint("object", "relation", "subject", "subject_relation"),
        # Forward (check: who holds this?) and reverse (list_objects: what do they hold?).
        Index("ix_tuples_subject", "subject", "subject_relation", "relation"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    object: Mapped[str] = mapped_column(String(200))
    relation: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    subject_relation: Mapped[str] = mapped_column(String(32), default="")

    def as_tuple(self) -> RelationTuple:
        return RelationTuple(self.object, self.relation, self.subject, self.subject_relation)


def row_values(t: RelationTuple) -> dict[str, str]:
    """A tuple as the column values an ``insert(TupleRow)`` takes (validated first)."""
    t.validate()
    return {
        "object": t.object,
        "relation": t.relation,
        "subject": t.subject,
        "subject_relation": t.subject_relation,
    }


# One recursive CTE per question. Plain WITH RECURSIVE: the same text runs on SQLite and
# PostgreSQL (the CASTs give PostgreSQL the column types up front). UNION (not UNION ALL) drops rows already produced, which is what ends a cycle.
CHECK_SQL = """
WITH RECURSIVE
  chain(object) AS (
    SELECT CAST(:object AS VARCHAR(200))
    UNION
    SELECT t.subject FROM relation_tuples t JOIN chain c ON t.object = c.object
    WHERE t.relation = 'parent' AND :inherited = 1
  ),
  subjects(subject, subject_relation) AS (
    SELECT CAST(:user AS VARCHAR(200)), CAST('' AS VARCHAR(32))
    UNION
    SELECT t.object, CAST('member' AS VARCHAR(32)) FROM relation_tuples t
    JOIN subjects s ON t.subject = s.subject AND t.subject_relation = s.subject_relation
    WHERE t.relation = 'member'
  )
SELECT 1 FROM relation_tuples t
JOIN chain c ON t.object = c.object
JOIN subjects s ON t.subject = s.subject AND t.subject_relation = s.subject_relation
WHERE t.relation IN :relations
LIMIT 1
"""


def check_statement(object: str, relation: str, user: str) -> TextClause:
    """The one statement that answers ``check``: a row when access is granted, none otherwise."""
    return text(CHECK_SQL).bindparams(
        bindparam("relations", expanding=True),
        object=object,
        user=user,
        inherited=int(relation in INHERITED),
        relations=list(IMPLIED_BY.get(relation, (relation,))),
    )


LIST_OBJECTS_SQL = """
WITH RECURSIVE
  held(object, relation) AS (
    SELECT object, relation FROM relation_tuples
    WHERE subject = :user AND subject_relation = '' AND relation <> 'parent'
    UNION
    SELECT t.object,
           CAST(CASE WHEN t.relation = 'parent' THEN h.relation ELSE t.relation END AS VARCHAR(32))
    FROM held h JOIN relation_tuples t ON t.subject = h.object
    WHERE (t.relation = 'parent' AND t.subject_relation = ''
           AND h.relation IN ('viewer', 'editor', 'owner'))
       OR (t.relation <> 'parent' AND t.subject_relation = h.relation)
  )
SELECT DISTINCT object FROM held
WHERE relation IN :relations AND object LIKE :prefix
ORDER BY object
"""


def list_objects_statement(object_type: str, relation: str, user: str) -> TextClause:
    """The one statement behind ``list_objects``: walks back from the user, in the database.

    Only the answer leaves the database: the rows it returns are the objects granted.
    """
    return text(LIST_OBJECTS_SQL).bindparams(
        bindparam("relations", expanding=True),
        user=user,
        relations=list(IMPLIED_BY.get(relation, (relation,))),
        prefix=object_type + ":%",
    )


from collections.abc import Mapping


def reach(start: str, up: Mapping[str, Sequence[str]]) -> frozenset[str]:
    """``start`` and everything above it along ``up`` edges, cycles included."""
    # Iterative walk with a visited set: cycles end, deep chains cannot overflow the stack.
    seen, stack = {start}, [start]
    while stack:
        for above in up.get(stack.pop(), ()):
            if above not in seen:
                seen.add(above)
                stack.append(above)
    return frozenset(seen)


class ClosureIndex:
    """Group and folder closures computed once, so a check is a handful of set lookups.

    - ``subjects_of_user[u]``: ``u`` itself and every ``group:g#member`` it belongs to,
      through any depth of nesting;
    - ``ancestors[f]``: folder ``f`` and every folder above it;
    - ``effective[relation][object]``: the subjects stored on that object with ``relation``
      *or a stronger one* (an owner tuple is filed under owner, editor and viewer).

    ``check`` then asks: does the object, or a folder above it, grant the relation to any
    of the user's subjects? At most a few set lookups. Writes are where it pays: see
    :meth:`add`.
    """

    def __init__(self, tuples: Iterable[RelationTuple]) -> None:
        self.effective: dict[str, defaultdict[str, set[str]]] = {
            relation: defaultdict(set) for relation in IMPLIED_BY
        }
        self.parents: defaultdict[str, list[str]] = defaultdict(list)
        self.member_of: defaultdict[str, list[str]] = defaultdict(list)  # subject → groups
        for t in tuples:
            self._store(t)
        self._rebuild()

    def _store(self, t: RelationTuple) -> None:
        if t.relation == PARENT:
            self.parents[t.object].append(t.subject)
        else:
            for relation, granted_by in IMPLIED_BY.items():
                if t.relation in granted_by:
                    self.effective[relation][t.object].add(t.subject_key)
            if t.relation == MEMBER:
                self.member_of[t.subject_key].append(f"{t.object}#{MEMBER}")

    def _rebuild(self) -> None:
        self.ancestors = {
            folder: tuple(reach(folder, self.parents)) for folder in self._folders()
        }
        self.group_closure = {g: reach(g, self.member_of) for g in list(self.member_of)}
        self.subjects_of_user = {
            subject: self.group_closure[subject]
            for subject in self.group_closure
            if subject.startswith(USER_TYPE + ":")
        }

    def _folders(self) -> set[str]:
        return {p for parents in self.parents.values() for p in parents}

    def check(self, object: str, relation: str, user: str) -> bool:
        held = self.effective.get(relation)
        if held is None:
            return False
        subjects = self.subjects_of_user.get(user) or frozenset((user,))
        granted = held.get(object)
        if granted is not None and not granted.isdisjoint(subjects):
            return True
        if relation in INHERITED:
            for parent in self.parents.get(object, ()):
                for holder in self.ancestors.get(parent, (parent,)):
                    granted = held.get(holder)
                    if granted is not None and not granted.isdisjoint(subjects):
                        return True
        return False

    def add(self, t: RelationTuple) -> str:
        """Apply one new tuple; returns what it cost, in words.

        Sharing (a grant) touches one set. A membership or a folder move changes closures:
        this index recomputes them all, which is what makes such writes expensive.
        """
        self._store(t)
        if t.relation in (MEMBER, PARENT):
            self._rebuild()
            return "rebuilt the closures"
        return "one set insert"


import random


@dataclass(frozen=True)
class GraphShape:
    """What :func:`generate_tuples` builds: the same seed and shape give the same tuples.

    Groups come in trees ``group_depth`` levels deep with ``group_fanout`` sub-groups each;
    folders in trees ``folder_depth`` deep with ``folder_fanout`` sub-folders; every user is
    a direct member of ``groups_per_user`` groups; half of what is left are documents (one
    parent tuple each) and half are grants (70 % on documents, 30 % on folders; 60 % to a
    user, 40 % to a group; viewer 60 %, editor 30 %, owner 10 %).
    """

    tuples: int
    seed: int = 7
    group_depth: int = 3
    group_fanout: int = 4
    folder_depth: int = 4
    folder_fanout: int = 5
    groups_per_user: int = 2
    users_per_tuple: float = 1 / 40
    group_trees_per_tuple: float = 1 / 2000
    folder_trees_per_tuple: float = 1 / 4000


def _tree(prefix: str, depth: int, fanout: int, edge: str, out: list[RelationTuple]) -> list[str]:
    """One tree of ``prefix`` nodes; appends the edges, returns every node (root first)."""
    level, nodes = [f"{prefix}-0"], [f"{prefix}-0"]
    for _ in range(depth - 1):
        below = [f"{parent}-{i}" for parent in level for i in range(fanout)]
        for child in below:
            parent = child.rsplit("-", 1)[0]
            if edge == MEMBER:  # members of the child group are members of the parent group
                out.append(RelationTuple(parent, MEMBER, child, MEMBER))
            else:  # the child folder sits in the parent folder
                out.append(RelationTuple(child, PARENT, parent))
        nodes += below
        level = below
    return nodes


def generate_tuples(shape: GraphShape) -> list[RelationTuple]:
    """A seeded, realistic-looking tuple set of exactly ``shape.tuples`` tuples."""
    rng = random.Random(shape.seed)
    n = shape.tuples
    out: list[RelationTuple] = []
    groups: list[str] = []
    for tree in range(max(1, round(n * shape.group_trees_per_tuple))):
        groups += _tree(f"group:g{tree}", shape.group_depth, shape.group_fanout, MEMBER, out)
    folders: list[str] = []
    for tree in range(max(1, round(n * shape.folder_trees_per_tuple))):
        folders += _tree(f"folder:f{tree}", shape.folder_depth, shape.folder_fanout, PARENT, out)
    users = [f"user:u{i}" for i in range(max(2, round(n * shape.users_per_tuple)))]
    for user in users:
        for group in rng.sample(groups, min(shape.groups_per_user, len(groups))):
            out.append(RelationTuple(group, MEMBER, user))
    left = max(0, n - len(out))
    documents = [f"document:d{i}" for i in range(max(1, left // 2))]
    for document in documents:
        out.append(RelationTuple(document, PARENT, rng.choice(folders)))
    relations = ("viewer",) * 6 + ("editor",) * 3 + ("owner",)
    seen = set(out)
    while len(out) < n:
        target = rng.choice(documents) if rng.random() < 0.7 else rng.choice(folders)
        if rng.random() < 0.6:
            grant = RelationTuple(target, rng.choice(relations), rng.choice(users))
        else:
            grant = RelationTuple(target, rng.choice(relations), rng.choice(groups), MEMBER)
        if grant not in seen:
            seen.add(grant)
            out.append(grant)
    return out[:n]
