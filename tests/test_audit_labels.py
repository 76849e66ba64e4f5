"""Every action the application records has a label in the interface language
(audit/labels.py), found by reading the code as it is at test time: a new `record("x.y")`
anywhere (this branch's or another's, once merged) fails here until it is labelled.

The codes are read from the source, not from a list kept beside the table (which would go
stale the same way the table does): the first argument of every `record(...)` call, followed
through f-strings, local assignments, the parameters of the function that calls record()
(their callers' arguments) and the signals a listener is connected to (their senders'
keyword arguments)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from flask_babel import force_locale
from flask_babel.speaklater import LazyString

from audit.labels import ACTION_LABELS, PROBLEM_LABELS, action_label

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("audit", "cases", "protection")


def _called_name(call: ast.Call) -> str | None:
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)


class RecordedActions:
    """The action codes the code under `root` can record."""

    MAX_DEPTH = 6

    def __init__(self, root: Path, packages=PACKAGES):
        self.calls: list[tuple[ast.Call, ast.FunctionDef | None]] = []
        self.listeners: dict[str, str] = {}  # listener function -> signal attribute it is connected to
        self.unresolved: list[str] = []
        for path in sorted(path for package in packages for path in (root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            self._collect(tree, None)
            for node in ast.walk(tree):
                # CONNECTIONS = ((signals.user_changed, _on_user_changed), ...) in audit/listeners.py
                if (isinstance(node, ast.Tuple) and len(node.elts) == 2 and isinstance(node.elts[0], ast.Attribute)
                        and isinstance(node.elts[1], ast.Name)):
                    self.listeners[node.elts[1].id] = node.elts[0].attr

    def _collect(self, node: ast.AST, function) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                self._collect(child, child)
                continue
            if isinstance(child, ast.Call):
                self.calls.append((child, function))
            self._collect(child, function)

    def codes(self) -> set[str]:
        found: set[str] = set()
        for call, function in self.calls:
            if _called_name(call) == "record" and call.args:
                values = self._values(call.args[0], function, 0)
                if not values:
                    self.unresolved.append(ast.unparse(call)[:100])
                found |= values
        return found

    def _values(self, node: ast.AST, function, depth: int) -> set[str]:
        if depth > self.MAX_DEPTH:
            return set()
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.IfExp):
            return self._values(node.body, function, depth) | self._values(node.orelse, function, depth)
        if isinstance(node, ast.BoolOp):
            return set().union(*(self._values(value, function, depth) for value in node.values))
        if isinstance(node, ast.JoinedStr):
            texts = {""}
            for part in node.values:
                pieces = ({part.value} if isinstance(part, ast.Constant)
                          else self._values(part.value, function, depth))
                texts = {start + piece for start in texts for piece in pieces}
            return texts
        if isinstance(node, ast.Name) and function is not None:
            values: set[str] = set()
            for statement in ast.walk(function):
                if isinstance(statement, ast.Assign) and any(
                        isinstance(target, ast.Name) and target.id == node.id for target in statement.targets):
                    values |= self._values(statement.value, function, depth + 1)
            parameters = [arg.arg for arg in function.args.args + function.args.kwonlyargs]
            if node.id in parameters:
                values |= self._arguments(function, node.id, depth + 1)
            return values
        return set()

    def _arguments(self, function, name: str, depth: int) -> set[str]:
        """What is passed for parameter `name`: by the function's callers, or, for a signal
        listener, by the senders of its signal."""
        positional = [arg.arg for arg in function.args.args]
        signal = self.listeners.get(function.name)
        values: set[str] = set()
        for call, caller in self.calls:
            if signal is not None:
                sends = (_called_name(call) == "send" and isinstance(call.func, ast.Attribute)
                         and getattr(call.func.value, "attr", None) == signal)
                if not sends:
                    continue
            elif _called_name(call) != function.name:
                continue
            for keyword in call.keywords:
                if keyword.arg == name:
                    values |= self._values(keyword.value, caller, depth)
            if signal is None and name in positional and positional.index(name) < len(call.args):
                values |= self._values(call.args[positional.index(name)], caller, depth)
        return values


@pytest.fixture(scope="module")
def recorded() -> set[str]:
    scan = RecordedActions(ROOT)
    codes = scan.codes()
    assert not scan.unresolved, f"record() calls whose action the scan cannot follow: {scan.unresolved}"
    return codes


def test_the_scan_follows_every_way_the_code_names_an_action(recorded):
    """The scan must find what it is meant to, or the test below proves nothing."""
    assert len(recorded) >= 60
    assert {
        "case.create",  # a literal
        "auth.password.reset",  # a conditional expression
        "conclusion.update",  # a local variable
        "report.view",  # a helper's parameter, from its callers
        "user.created", "user.disabled",  # f"user.{change}" in a listener, from the signal's senders
        "keys.rekey.batch",  # f"keys.{operation}", through the signal and the _announce helper
        "subject.view",  # record_viewed's action
    } <= recorded


def test_every_recorded_action_has_a_label(recorded):
    unlabelled = sorted(code for code in recorded if code not in ACTION_LABELS)
    assert not unlabelled, f"add these to audit/labels.py ACTION_LABELS: {unlabelled}"


def test_the_scan_notices_an_unlabelled_action(tmp_path):
    package = tmp_path / "cases"
    package.mkdir()
    (package / "newfeature.py").write_text(
        "from audit.trail import record\n\n"
        "def publish(case, kind):\n"
        "    record(f'case.published.{kind}', target_type='case', target_id=case.id)\n\n"
        "def publish_all(case):\n"
        "    publish(case, 'web')\n", encoding="utf-8")
    codes = RecordedActions(tmp_path, ("cases",)).codes()
    assert codes == {"case.published.web"}
    assert [code for code in codes if code not in ACTION_LABELS] == ["case.published.web"]


def test_the_password_step_of_signing_in_has_a_label():
    """Another branch of issue 17 records the password step apart from the completed sign-in."""
    assert "auth.password_ok" in ACTION_LABELS


def test_labels_are_lazy_and_translated(app):
    assert all(isinstance(label, LazyString) for label in (*ACTION_LABELS.values(), *PROBLEM_LABELS.values()))
    with app.test_request_context(), force_locale("en"):
        untranslated = [code for code, label in ACTION_LABELS.items() if str(label) == label._args[-1]]
    assert not untranslated, f"no English label for {untranslated}"


def test_an_unknown_code_is_shown_as_it_is():
    assert action_label("something.new") == "something.new"
    assert action_label("case.view") is ACTION_LABELS["case.view"]


def problem_kinds(root: Path = ROOT) -> set[str]:
    """The kinds of tampering the verifier can name: the second argument of every
    `Problem(...)` built under audit/ (a literal, or a conditional between literals)."""
    kinds: set[str] = set()
    for path in sorted((root / "audit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Call) and _called_name(node) == "Problem" and len(node.args) >= 2:
                kind = node.args[1]
                for value in (kind.body, kind.orelse) if isinstance(kind, ast.IfExp) else (kind,):
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        kinds.add(value.value)
    return kinds


def test_every_kind_of_tampering_has_a_label():
    """The auditor's panel names each kind the verifier reports, those of issue 22 (a link
    to a missing entry, an unlinked entry) included."""
    kinds = problem_kinds()
    assert {"altered", "missing", "inserted", "reordered", "truncated", "bad_checkpoint", "unlinked"} <= kinds
    unlabelled = sorted(kinds - PROBLEM_LABELS.keys())
    assert not unlabelled, f"add these to audit/labels.py PROBLEM_LABELS: {unlabelled}"
