"""House rule: features/ may import only detector.schema and detector.errors; those two import nothing else of ours."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _project_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] in ("detector", "features")}


@pytest.mark.parametrize("path", sorted((ROOT / "features").rglob("*.py")), ids=lambda p: p.name)
def test_features_import_only_schema_and_errors(path):
    allowed = {"detector.schema", "detector.errors"}
    bad = {m for m in _project_imports(path) if m.split(".")[0] == "detector" and m not in allowed}
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("name", ["schema.py", "errors.py"])
def test_leaf_modules_import_nothing_of_ours(name):
    imports = _project_imports(ROOT / "detector" / name) - {"detector.errors"}
    assert not imports
