"""The dependency rule, executable: the domain and the application never import outward, and the
simulators stay apart (only config/simulators.py imports one; none imports our own code's outer rings)."""

from __future__ import annotations

import ast
import logging
import sys
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
STDLIB = frozenset(sys.stdlib_module_names)
DOMAIN_MAY_IMPORT = STDLIB | {"attrs", "domain"}
# msgspec declares what leaves the core (`application/payment_views.py`: the views subscribers see).
APPLICATION_MAY_IMPORT = DOMAIN_MAY_IMPORT | {"application", "msgspec"}
PRODUCTION_PACKAGES = ("domain", "application", "adapters", "entrypoints", "config")
SIMULATORS_MOUNT = ROOT / "config" / "simulators.py"


def foreign_imports(package: Path, allowed: frozenset[str]) -> list[str]:
    """Every absolute import under `package` whose top-level module is not in `allowed`, as `file:line module`."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue  # relative imports stay inside the package
            where = f"{path.relative_to(package.parent)}:{node.lineno}"
            found += [f"{where} {m}" for m in modules if m.split(".")[0] not in allowed]
    return found


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every absolute import in one module, as (line, module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_the_domain_imports_only_the_standard_library_and_attrs() -> None:
    assert foreign_imports(ROOT / "domain", DOMAIN_MAY_IMPORT) == []


def test_the_application_imports_only_the_domain_the_standard_library_attrs_and_msgspec() -> None:
    assert foreign_imports(ROOT / "application", APPLICATION_MAY_IMPORT) == []


def test_only_config_simulators_imports_a_simulator() -> None:
    importers = [
        f"{path.relative_to(ROOT)}:{line} {module}"
        for package in PRODUCTION_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != SIMULATORS_MOUNT
        for line, module in imports_of(path)
        if module.split(".")[0] == "simulators"
    ]
    assert importers == []
    assert any(module.startswith("simulators") for _, module in imports_of(SIMULATORS_MOUNT))


def test_no_simulator_imports_an_adapter_a_use_case_the_edge_or_the_wiring() -> None:
    # A simulator checks an adapter only if it reads the wire from its own definitions.
    allowed = frozenset(STDLIB | {"attrs", "anyio", "httpx", "msgspec", "starlette", "stripe", "domain", "simulators"})
    assert foreign_imports(ROOT / "simulators", allowed) == []


def test_the_scan_catches_an_outward_import_however_it_is_written(tmp_path: Path) -> None:
    package = tmp_path / "domain"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "leak.py").write_text(
        "from __future__ import annotations\n"
        "import os, sqlalchemy.orm\n"
        "from typing import TYPE_CHECKING\n"
        "from . import money\n"
        "if TYPE_CHECKING:\n"
        "    from application.ports import Clock\n"
        "def late():\n"
        "    import httpx\n"
    )
    assert foreign_imports(package, DOMAIN_MAY_IMPORT) == [
        "domain/leak.py:2 sqlalchemy.orm",
        "domain/leak.py:6 application.ports",
        "domain/leak.py:8 httpx",
    ]




def container_reads(package: Path) -> list[str]:
    """Every read of `<something>.state.container` under `package`, as `file:line` (the untyped locator)."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if (
                isinstance(node, ast.Attribute) and node.attr == "container" and isinstance(node.ctx, ast.Load)
                and isinstance(node.value, ast.Attribute) and node.value.attr == "state"
            ):
                found.append(f"{path.relative_to(package.parent)}:{node.lineno}")
    return found


def test_the_edge_reaches_the_core_through_the_typed_bundle_not_app_state() -> None:
    # Routes and console pages reach the core through `use_cases(request)`, so a reader and mypy can
    # follow them; `app.state` does not even hold the container.
    assert container_reads(ROOT / "entrypoints") == []


def test_the_scan_finds_the_container_read_off_app_state(tmp_path: Path) -> None:
    package = tmp_path / "entrypoints"
    package.mkdir()
    (package / "page.py").write_text(
        "def page(request):\n"
        "    request.app.state.use_cases.get_payment\n"
        "    return request.app.state.container.get_payment()\n"
        "def build(app, container):\n"
        "    app.state.container = container\n"
    )
    assert container_reads(package) == ["entrypoints/page.py:3"]


def test_the_import_linter_contracts_are_kept(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    # import-linter configures logging with dictConfig, which disables every logger that exists
    # already: later tests would see no log line from them.
    enabled = [
        logger for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.disabled
    ]
    try:
        exit_code = lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True, no_logo=True)
    finally:
        for logger in enabled:
            logger.disabled = False
    assert exit_code == 0, capsys.readouterr().out
