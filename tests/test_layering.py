"""Data flows catalogue → dedup → review: catalogue's code imports no module of dedup or review but
their plain cores (modules that import nothing of Django, e.g. dedup.signals), so its pages get dedup's
and review's parts through those apps' template tags instead. Read from the source (AST), not from
what happens to be loaded."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOWER = ("dedup", "review")


def imported_modules(path):
    """Absolute module names a file imports (relative imports are within its own app)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"  # `from dedup import policy` names dedup.policy


def module_file(name):
    base = REPO.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def is_plain_core(name, seen=None):
    """A module of the hard core: it imports nothing of Django, and of the apps only other plain cores."""
    path = module_file(name)
    if path is None:
        return False
    seen = set() if seen is None else seen
    if name in seen:
        return True
    seen.add(name)
    for module in imported_modules(path):
        if module == "django" or module.startswith("django."):
            return False
        app_module = module.split(".")[0] in ("catalogue", *LOWER) and module_file(module) is not None
        if app_module and not is_plain_core(module, seen):
            return False
    return True


def catalogue_files():
    return [p for p in sorted((REPO / "catalogue").rglob("*.py")) if "migrations" not in p.parts]


def test_catalogue_imports_only_the_plain_cores_of_dedup_and_review():
    offending = []
    for path in catalogue_files():
        for name in imported_modules(path):
            if name.split(".")[0] not in LOWER:
                continue
            if module_file(name) is None:
                continue  # `from dedup.x import function`: the module itself is checked by its own name
            if not is_plain_core(name):
                offending.append(f"{path.relative_to(REPO)} imports {name}")
    assert offending == []


def test_the_check_sees_an_import_of_a_django_module(tmp_path):
    # The check above must be able to fail: these are Django modules, and both spellings are seen.
    assert not is_plain_core("dedup.fingerprinting")
    assert not is_plain_core("dedup.policy")
    assert not is_plain_core("review.models")
    assert is_plain_core("dedup.index")
    source = tmp_path / "views.py"
    source.write_text("from review.models import Decision\nfrom dedup import policy\n")
    assert {"review.models", "dedup.policy"} <= set(imported_modules(source))
