"""Each status-like vocabulary is spelled once, in db/models.py (event types: outbox/events.py).

Application code compares a column with one word of it (`payment.status == "detected"`), but a set
of its words (an `in_(...)` filter, a schema's enum, a precedence) is a second copy of the
vocabulary that can drift: those are named once, in models.py or, for the payment lifecycle's
subsets, in services/payments/payment_state.py, and imported everywhere else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ctrip_core
from ctrip_core.db import models
from ctrip_core.services.outbox.events import EVENT_TYPES
from ctrip_core.services.payments import payment_state

PACKAGE = Path(ctrip_core.__file__).parent
VOCABULARIES = {
    "payment status": models.PAYMENT_STATUSES, "transfer state": models.TRANSFER_STATES,
    "transfer source": models.TRANSFER_SOURCES, "endpoint status": models.ENDPOINT_STATUSES,
    "delivery state": models.DELIVERY_STATES, "sweep kind": models.SWEEP_KINDS,
    "sweep state": models.SWEEP_STATES, "event type": EVENT_TYPES,
}
#: Where a vocabulary's words may be listed: its source, and the lifecycle rules' named subsets.
SOURCES = {PACKAGE / "db" / "models.py", PACKAGE / "services" / "payments" / "payment_state.py"}
#: The event types' own definition, wherever the outbox keeps it.
SOURCE_NAMES = {"EVENT_TYPES"}


def respellings(tree: ast.AST) -> list[tuple[int, str, list[str]]]:
    """(line, vocabulary, words) per tuple/list/set literal holding two or more words of one
    vocabulary and at most one other string (an extra value such as the view's "none")."""
    defined = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id in SOURCE_NAMES for t in node.targets)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Tuple, ast.List, ast.Set)) or id(node) in defined:
            continue
        words = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        for name, vocabulary in VOCABULARIES.items():
            inside = [w for w in words if w in vocabulary]
            if len(inside) >= 2 and len(words) - len(inside) <= 1:
                found.append((node.lineno, name, words))
    return found


def test_the_finder_sees_a_respelled_subset_and_an_enum():
    tree = ast.parse('x = s.in_(("pending", "submitted"))\nState = Literal["none", "pending", "done"]\n'
                     'fine = ("broadcast", "rebroadcast", "replaced", "done", "failed")\n')
    assert [(line, name) for line, name, _ in respellings(tree)] == [(1, "sweep state"), (2, "sweep state")]


def test_no_vocabulary_is_respelled_outside_its_source():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path not in SOURCES:
            found += [f"{path.relative_to(PACKAGE.parent)}:{line}: {name} {words}"
                      for line, name, words in respellings(ast.parse(path.read_text(), str(path)))]
    assert found == [], "import the named vocabulary from ctrip_core.db.models (or payment_state):\n" + "\n".join(found)


def test_named_subsets_are_made_of_their_vocabulary():
    assert set(payment_state.OPEN_STATUSES) | set(payment_state.FINAL_STATUSES) == set(models.PAYMENT_STATUSES)
    assert not set(payment_state.OPEN_STATUSES) & set(payment_state.FINAL_STATUSES)
    assert set(payment_state.UNPAID_FINAL_STATUSES) <= set(payment_state.FINAL_STATUSES)
    assert set(models.OPEN_SWEEP_STATES) | set(models.FINISHED_SWEEP_STATES) == set(models.SWEEP_STATES)
    assert sorted(models.SWEEP_SUMMARY_PRECEDENCE) == sorted(models.SWEEP_STATES)
