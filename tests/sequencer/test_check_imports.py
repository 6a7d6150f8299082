"""`scripts/check_imports.py` (run by `make lint`) finds import circles however they are hidden.

A circle closed by a function-level import, an `if TYPE_CHECKING:` import, a relative import or
`from pkg import module` fails the check, naming the modules; a package whose imports only go one
way passes, and so does this repository's `sequencer/`.
"""

from __future__ import annotations

from pathlib import Path

import check_imports
import pytest

ROOT = Path(__file__).resolve().parents[2]


def make_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text('"""A package."""\n')
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


HIDDEN_CIRCLES = {
    "function-level": {
        "a.py": "from pkg.b import B\n\nA = 1\n",
        "b.py": "B = 2\n\n\ndef late():\n    from pkg.a import A\n\n    return A\n",
    },
    "TYPE_CHECKING": {
        "a.py": "from pkg import b\n\nA = b.B\n",
        "b.py": "import typing\n\nif typing.TYPE_CHECKING:\n    from pkg.a import A\n\nB = 2\n",
    },
    "relative": {
        "a.py": "from . import b\n",
        "b.py": "from .a import A\n",
    },
    "through a third module, plain import": {
        "a.py": "import pkg.b\n",
        "b.py": "import pkg.c as c\n",
        "c.py": "def f():\n    import pkg.a\n",
    },
    "subpackage": {
        "a.py": "from pkg.sub.d import D\n",
        "sub/__init__.py": "",
        "sub/d.py": "from ..a import A\nD = 1\n",
    },
}


@pytest.mark.parametrize("files", HIDDEN_CIRCLES.values(), ids=HIDDEN_CIRCLES.keys())
def test_a_hidden_circle_fails_the_check(tmp_path, capsys, files):
    package = make_package(tmp_path, files)
    assert check_imports.main([str(package)]) == 1
    report = capsys.readouterr().err
    assert "import circle: pkg.a -> " in report and report.splitlines()[0].endswith(" -> pkg.a")


def test_the_circle_reported_is_a_real_path(tmp_path):
    package = make_package(tmp_path, HIDDEN_CIRCLES["through a third module, plain import"])
    graph = check_imports.import_graph([package])
    (cycle,) = check_imports.find_cycles(graph)
    assert cycle == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    assert all(after in graph[before] for before, after in zip(cycle, cycle[1:], strict=False))


def test_imports_one_way_pass(tmp_path, capsys):
    package = make_package(
        tmp_path,
        {
            "a.py": "import json\nfrom pkg import b\nfrom pkg.c import C\nfrom . import c\n",
            "b.py": "def f():\n    from pkg.c import C\n\n    return C\n",
            "c.py": "import pkg\n\nC = 1\n",  # the package's own __init__ imports nothing back
        },
    )
    assert check_imports.main([str(package)]) == 0
    assert check_imports.import_graph([package])["pkg.a"] == {"pkg.b", "pkg.c"}
    assert "no import circles" in capsys.readouterr().out


def test_the_sequencer_package_has_no_circle(capsys):
    assert check_imports.main([str(ROOT / "sequencer")]) == 0, capsys.readouterr().err
