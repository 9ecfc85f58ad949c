"""The shape of the package, pinned: data flows one way and nothing imports in a circle.

Every ``import`` in ``src/senderid`` counts, also those inside functions (a late import
hides a cycle, it does not remove it); only imports under ``if TYPE_CHECKING:`` are left
out, since they never run.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src"
PACKAGE = SRC / "senderid"

# Top-level modules that hold rules or data and import no layer (only each other).
PURE = {
    "senderid", "senderid.clock", "senderid.errors", "senderid.ids", "senderid.numbers", "senderid.otp",
    "senderid.sms_parts", "senderid.webhook_urls", "senderid.signing", "senderid.provider_names",
    "senderid.settings", "senderid.settings.server", "senderid.settings.messaging",
    "senderid.settings.delivery", "senderid.settings.operations", "senderid.logs",
}
LAYERS = ("api", "console", "cli", "delivery", "domain", "store", "client")

pytestmark = pytest.mark.unit


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The senderid modules ``path`` imports (``from a import b`` counts ``a.b`` when that is a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return {m for m in found if m in modules and m != name}


def graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): imports_of(f, modules) for f in files}


def layer(module: str) -> str | None:
    """``domain`` for ``senderid.domain.accounts`` (and ``senderid.domain`` itself), else None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def without_packages(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges to a package's own ``__init__`` from inside it are how Python loads it, not a cycle."""
    return {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in edges.items()}


def test_no_module_imports_in_a_circle() -> None:
    assert cycles(without_packages(graph())) == []


def test_the_domain_imports_no_edge_and_no_delivery() -> None:
    wrong = {
        (m, t) for m, targets in graph().items() if layer(m) == "domain"
        for t in targets if layer(t) in ("api", "console", "cli", "delivery")
    }
    assert wrong == set()


def test_storage_imports_only_storage_and_pure_modules() -> None:
    wrong = {
        (m, t) for m, targets in graph().items() if layer(m) == "store"
        for t in targets if layer(t) != "store" and t not in PURE
    }
    assert wrong == set()


def test_routes_reach_the_database_only_through_the_domain() -> None:
    """No module under api/routes imports anything of senderid.store (tables, db, ...)."""
    wrong = {
        (m, t) for m, targets in graph().items() if m.startswith("senderid.api.routes.")
        for t in targets if layer(t) == "store"
    }
    assert wrong == set()
    assert "senderid.api.routes.ops" in graph()  # the check looks at the route modules


def test_the_client_imports_only_itself() -> None:
    wrong = {
        (m, t) for m, targets in graph().items() if layer(m) == "client"
        for t in targets if layer(t) != "client" and t != "senderid"
    }
    assert wrong == set()


def test_pure_modules_import_only_pure_modules() -> None:
    edges = graph()
    wrong = {(m, t) for m in PURE if m in edges for t in edges[m] if t not in PURE}
    assert wrong == set()


def test_the_checks_see_real_imports() -> None:
    """The graph is not empty or blind to late imports: known edges are in it."""
    edges = graph()
    assert "senderid.domain.outbox" in edges["senderid.delivery.worker"]
    assert "senderid.store.db" in edges["senderid.runtime"]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def top_level_imports(path: Path) -> set[str]:
    """The top-level packages ``path`` imports anywhere in it (``tests`` for ``tests.support.env``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.partition(".")[0])
    return found


# The benchmark harness's own smoke test runs it end to end.
BENCHMARK_SMOKE_TESTS = frozenset({"test_bench_smoke.py"})


def imports_across(folder: str, forbidden: set[str], allowed: frozenset[str] = frozenset()) -> dict[str, set[str]]:
    """The files under ``ROOT/folder`` (but those named in ``allowed``) that import one of ``forbidden``."""
    found = {str(path.relative_to(ROOT)): top_level_imports(path) & forbidden
             for path in sorted((ROOT / folder).rglob("*.py")) if path.name not in allowed}
    return {path: packages for path, packages in found.items() if packages}


def test_tests_benchmarks_and_peers_import_only_the_shared_package() -> None:
    """The protocol peers and the process helpers are one package, ``peers``, that the tests and
    the benchmarks both import: the benchmarks import nothing of the tests, the tests nothing of
    the benchmarks (but the harness's smoke test), and ``peers`` neither."""
    assert imports_across("benchmarks", {"tests"}) == {}
    assert imports_across("tests", {"benchmarks"}, BENCHMARK_SMOKE_TESTS) == {}
    assert imports_across("peers", {"tests", "benchmarks"}) == {}
    [smoke] = [path for name in BENCHMARK_SMOKE_TESTS for path in (ROOT / "tests").rglob(name)]
    assert "benchmarks" in top_level_imports(smoke)
    assert "peers" in top_level_imports(ROOT / "benchmarks" / "delivery.py")


def _assigned_attributes(path: Path) -> set[str]:
    """``x.attr`` targets of every assignment in ``path``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                found.add(f"{target.value.id}.{target.attr}")
    return found


def test_the_process_lifecycle_is_the_runtimes() -> None:
    """The app factory neither builds a worker or listener nor wires the context itself."""
    edges = graph()
    app = edges["senderid.api.app"]
    assert {"senderid.delivery.worker", "senderid.store.listen"}.isdisjoint(app)
    assert "senderid.runtime" in app
    assert not {a for a in _assigned_attributes(PACKAGE / "api" / "app.py") if a.startswith("ctx.")}
    for module in ("senderid.cli.serve",):
        assert "senderid.delivery.worker" not in edges[module]


def test_shared_values_live_in_a_module_that_imports_nothing() -> None:
    """Who acts and who calls are defined once, in domain/types.py, which imports no senderid
    module: accounts, audit and the key cache take them from there (no circle through them)."""
    from senderid.domain import accounts, audit, senders, types

    edges = graph()
    assert edges["senderid.domain.types"] == set()
    for module in ("senderid.domain.accounts", "senderid.domain.audit", "senderid.domain.senders"):
        assert "senderid.domain.types" in edges[module]
        assert "senderid.domain.accounts" not in edges[module] or module == "senderid.domain.accounts"
    for value in (types.Actor, types.Account, types.ApiKey, types.Caller):
        assert value.__module__ == "senderid.domain.types"
    assert accounts.Caller is types.Caller and audit.Actor is types.Actor and senders.Caller is types.Caller


def test_statuses_are_named_not_spelled_out() -> None:
    """A status is compared, stored and chosen through its StrEnum (domain/types.py), never
    as a bare string: no ``== "pending"``, ``status="queued"`` or ``{"status": "APPROVED"}``
    in the package or its templates. (The client's CLI names them again on purpose:
    tests/cli/test_cli_api.py checks they are the same.)"""
    from senderid.domain import types

    words = {str(m) for enum in (types.OutboxStatus, types.WebhookStatus, types.CustomNumberStatus,
                                 types.BusinessNameStatus, types.KeyStatus) for m in enum}
    exempt = {PACKAGE / "domain" / "types.py", PACKAGE / "cli" / "api.py"}
    wrong: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in exempt or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            spelled: list[ast.expr] = []
            if isinstance(node, ast.Compare):
                spelled = [node.left, *node.comparators]
                spelled += [
                    e for c in node.comparators if isinstance(c, (ast.Tuple, ast.List, ast.Set)) for e in c.elts
                ]
            elif isinstance(node, ast.keyword) and node.arg == "status":
                spelled = [node.value]
            elif isinstance(node, ast.Dict):
                spelled = [v for k, v in zip(node.keys, node.values, strict=False)
                           if isinstance(k, ast.Constant) and k.value == "status"]
            wrong += [f"{path.relative_to(SRC)}:{e.lineno}: {e.value!r}" for e in spelled
                      if isinstance(e, ast.Constant) and e.value in words]
    for path in sorted((PACKAGE / "console" / "templates").glob("*.html")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            wrong += [f"{path.relative_to(SRC)}:{number}: {word!r}" for word in words
                      if f'== "{word}"' in line or f"== '{word}'" in line]
    assert wrong == []


def test_the_console_does_not_reach_into_the_api() -> None:
    """The console and the API share what they take from a request through senderid.edge
    (context, actor, {id:objectid}); neither imports the other."""
    edges = graph()
    wrong = {(m, t) for m, targets in edges.items() if layer(m) == "console"
             for t in targets if layer(t) == "api"}
    wrong |= {(m, t) for m, targets in edges.items() if layer(m) == "api"
              for t in targets if layer(t) == "console" and m != "senderid.api.app"}
    assert wrong == set()
    for who in ("senderid.api.auth", "senderid.api.routes.admin", "senderid.console.plumbing"):
        assert "senderid.edge" in edges[who]


def test_any_router_module_can_be_imported_first() -> None:
    """``{id:objectid}`` is registered by the api and console packages themselves, so a page
    or route module imported on its own (before any app is built) declares its routes."""
    import subprocess
    import sys

    modules = ["senderid.console.accounts", "senderid.api.routes.custom_numbers"]
    for module in modules:
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True, capture_output=True)


# -- one package writes outbox rows ---------------------------------------------------------

OUTBOX_PACKAGE = PACKAGE / "domain" / "outbox"
TABLES = "senderid.store.tables"
WRITES = ("insert", "update", "delete")
RAW_OUTBOX_WRITE = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+outbox\b", re.IGNORECASE)


def outbox_writes(source: str, name: str = "<source>") -> list[str]:
    """Where ``source`` builds a statement that changes outbox rows: ``insert(outbox)``,
    ``update(outbox)``, ``delete(outbox)`` (also as ``sa.update(tables.outbox)``),
    ``outbox.insert()``/``.update()``/``.delete()``, or a string of SQL that does
    (``INSERT INTO outbox``, ``UPDATE outbox``, ``DELETE FROM outbox``; docstrings aside).
    The table is recognised under any name it is imported as."""
    tree = ast.parse(source, name)
    table_names: set[str] = set()  # names bound to the outbox table
    module_names: set[str] = set()  # names bound to senderid.store.tables
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == TABLES:
            table_names |= {a.asname or a.name for a in node.names if a.name == "outbox"}
        elif isinstance(node, ast.ImportFrom) and node.module == "senderid.store":
            module_names |= {a.asname or a.name for a in node.names if a.name == "tables"}
        elif isinstance(node, ast.Import):
            module_names |= {a.asname for a in node.names if a.name == TABLES and a.asname}
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }

    def is_table(node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id in table_names
        return isinstance(node, ast.Attribute) and node.attr == "outbox" and (
            ast.unparse(node.value) in module_names or ast.unparse(node.value) == TABLES)

    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            called = function.id if isinstance(function, ast.Name) else (
                function.attr if isinstance(function, ast.Attribute) else None)
            if called in WRITES and node.args and is_table(node.args[0]):
                found.append(f"{name}:{node.lineno}: {called}(outbox)")
            elif isinstance(function, ast.Attribute) and called in WRITES and is_table(function.value):
                found.append(f"{name}:{node.lineno}: outbox.{called}()")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
              and RAW_OUTBOX_WRITE.search(node.value)):
            found.append(f"{name}:{node.lineno}: SQL {RAW_OUTBOX_WRITE.search(node.value)[0]!r}")
    return found


def test_one_package_writes_outbox_rows() -> None:
    """Every statement that inserts, updates or deletes an outbox row is built in
    senderid.domain.outbox, one function per transition of a message; every other module
    calls it. (The schema, store/tables/, is not a writer; migrations are schema history,
    frozen as they ran, so their data fixes are written out in place.)"""
    wrong: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(OUTBOX_PACKAGE) or path.is_relative_to(PACKAGE / "store" / "tables") \
                or path.is_relative_to(PACKAGE / "store" / "migrations"):
            continue
        wrong += outbox_writes(path.read_text(), str(path.relative_to(SRC)))
    assert wrong == []


def test_the_outbox_write_check_sees_writes() -> None:
    """The scan is not blind: it finds each form of a write, under an alias too, and the
    package's own statements; a docstring that speaks of SQL is not one."""
    for source in (
        "from senderid.store.tables import outbox\nupdate(outbox).values(status='x')",
        "from senderid.store.tables import outbox as t\nimport sqlalchemy as sa\nsa.insert(t)",
        "from senderid.store import tables\ndelete(tables.outbox)",
        "from senderid.store.tables import outbox as rows\nrows.delete()",
        "import senderid.store.tables as tables\ntables.outbox.update()",
        "text('UPDATE outbox SET body = :b')",
        "q = f'DELETE FROM outbox WHERE id = {x}'",
        "text(\"INSERT INTO outbox (id) VALUES (:id)\")",
    ):
        assert len(outbox_writes(source)) == 1, source
    assert outbox_writes('"""UPDATE outbox ... WHERE id IN (...)"""\nselect(outbox)') == []
    assert outbox_writes("from senderid.domain import outbox\noutbox.update(conn)") == []  # not the table
    package = {path.stem: outbox_writes(path.read_text(), path.name) for path in OUTBOX_PACKAGE.glob("*.py")}
    assert {"queueing", "claims", "outcomes", "receipts", "cancels", "admin", "retention"} <= {
        stem for stem, writes in package.items() if writes}


def test_unit_tests_cannot_reach_the_network(request: pytest.FixtureRequest) -> None:
    """``pytest -m unit`` needs no database and no network: conftest refuses sockets to them."""
    import socket

    assert request.node.get_closest_marker("unit") is not None
    with socket.socket() as sock, pytest.raises(AssertionError, match="marked unit opened a network connection"):
        sock.connect(("127.0.0.1", 5432))


def test_a_hung_test_fails(request: pytest.FixtureRequest) -> None:
    """pytest-timeout is on, with a generous limit per test (pyproject.toml)."""
    assert request.config.pluginmanager.hasplugin("timeout")
    assert 60 <= float(request.config.getini("timeout")) <= 600


def test_routes_and_pages_need_no_type_ignore() -> None:
    """What the domain hands the edge is typed (frozen dataclasses such as Registration, not
    dicts), so no route or console page silences the type checker."""
    edge = [*sorted((PACKAGE / "api" / "routes").glob("*.py")), *sorted((PACKAGE / "console").glob("*.py"))]
    wrong = [f"{p.relative_to(SRC)}:{n}" for p in edge
             for n, line in enumerate(p.read_text().splitlines(), 1) if "type: ignore" in line]
    assert wrong == []
    from senderid.domain import custom_numbers, types

    for function in (custom_numbers.get_registration, custom_numbers.delete, custom_numbers.resend):
        assert function.__annotations__["return"] in ("Registration", types.Registration)


MAX_MODULE_LINES = 450


def test_no_module_grows_past_the_line_limit() -> None:
    """A module over 450 lines holds more than one concern: split it (as domain/custom_numbers/
    and settings/ are) before it grows."""
    lines = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in sorted(PACKAGE.rglob("*.py"))}
    too_long = {path: n for path, n in lines.items() if n > MAX_MODULE_LINES}
    assert too_long == {}
    assert "senderid/settings/__init__.py" in lines  # the check reads the package's modules


def test_every_domain_error_is_defined_in_errors() -> None:
    """The errors a caller can be answered with (SenderIdError's subclasses) are all defined in
    senderid/errors.py, which lists them; no domain module defines one of its own. (Private
    control flow such as idempotency's ``_Taken``, and pure rules' ValueErrors that the domain
    turns into an error, such as abn.InvalidAbn, are not such errors.)"""
    import importlib
    import inspect
    import pkgutil

    import senderid.domain
    from senderid.errors import SenderIdError

    elsewhere: list[str] = []
    for info in pkgutil.walk_packages(senderid.domain.__path__, "senderid.domain."):
        module = importlib.import_module(info.name)
        elsewhere += [f"{info.name}.{name}" for name, value in vars(module).items()
                      if inspect.isclass(value) and issubclass(value, SenderIdError)
                      and value.__module__ == info.name]
    assert elsewhere == []
    assert "senderid.domain.custom_numbers.register" in {
        info.name for info in pkgutil.walk_packages(senderid.domain.__path__, "senderid.domain.")}


def test_the_idempotency_key_error_states_the_checked_rule() -> None:
    """errors.py words the Idempotency-Key rule that domain/idempotency.py checks."""
    from senderid.domain import idempotency
    from senderid.errors import IdempotencyKeyInvalid, IdempotencyKeyReused

    message = IdempotencyKeyInvalid.message
    assert message.startswith(f"{idempotency.HEADER} must be 1 to {idempotency.MAX_KEY_LENGTH} ")
    assert idempotency.check_key("~" * idempotency.MAX_KEY_LENGTH)
    with pytest.raises(IdempotencyKeyInvalid):
        idempotency.check_key("~" * (idempotency.MAX_KEY_LENGTH + 1))
    assert idempotency.HEADER in IdempotencyKeyReused.message


# The folders of tests/, each testing one part of src/senderid (e2e: the whole; support: helpers).
TEST_AREAS = {"api", "cli", "client", "console", "delivery", "domain", "e2e", "store", "support"}


def test_tests_mirror_the_source() -> None:
    tests = SRC.parent / "tests"
    loose = sorted(path.name for path in tests.glob("test_*.py"))
    assert loose == [], f"put these in the folder of what they test: {loose}"
    folders = {path.name for path in tests.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    assert folders == TEST_AREAS, folders ^ TEST_AREAS
    for area in TEST_AREAS - {"support", "e2e"}:
        assert (SRC / "senderid" / area).is_dir(), f"tests/{area} mirrors no part of src/senderid"
    for area in TEST_AREAS - {"support"}:
        assert (tests / area / "conftest.py").is_file(), f"tests/{area} has no conftest.py"


def test_every_type_ignore_names_its_error_and_says_why() -> None:
    """mypy runs in `make lint` (strict on domain/, store/ and client/); where it must be told to
    look away, the comment names the error code and the reason, on the same line."""
    unexplained = [f"{path.relative_to(SRC)}:{n}" for path in sorted(PACKAGE.rglob("*.py"))
                   for n, line in enumerate(path.read_text().splitlines(), 1)
                   if "type: ignore" in line and not re.search(r"\[[a-z-, ]+\]  # \S", line)]
    assert unexplained == []
