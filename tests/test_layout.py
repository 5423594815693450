"""The folder tells the architecture: this test enforces the import table of
ARCHITECTURE.md, and that setup.cfg lists every package folder."""

from __future__ import annotations

import ast
import configparser
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# package folder -> ember subpackages it may import (besides itself)
ALLOWED = {
    "engine": set(),
    "scheduler": {"engine"},
    "worker": {"engine"},
    "ingest": {"engine"},
    "driver": {"engine", "scheduler", "ingest", "etl"},  # etl: sc.read, rdd.write's writer
    # etl: formats and SQL over the engine's files and tasks; connectors over the log store
    "etl": {"engine", "ingest"},
    # DStreams run on the Context (driver) over topic RDDs (ingest); the
    # scheduler and workers are reached only through the Context's jobs
    "streaming": {"engine", "ingest", "driver"},
    # a session wraps a driver Context and makes RDDs of Rows with the engine's API
    "sql": {"engine", "driver"},
    # machine learning reaches the cluster only through the RDDs and the
    # Context it is handed: nothing of the driver, scheduler or worker
    "mllib": {"engine"},
    "ember": {"engine", "scheduler", "worker", "ingest", "driver", "etl", "streaming", "sql", "mllib"},
}
FOLDERS = {"engine", "scheduler", "worker", "ingest", "driver", "etl", "streaming", "sql", "mllib"}


def imported_modules(path: pathlib.Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def source_files(folder: str) -> list[pathlib.Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_packages_import_only_what_the_layout_allows(folder):
    problems = []
    for path in source_files(folder):
        for line, module in imported_modules(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            top = module.split(".")[0]
            if module.startswith("."):
                problems.append(f"{where}: relative import {module!r}; use the full ember.… name")
            elif top in FOLDERS:
                problems.append(f"{where}: bare import {module!r}; use ember.{module}")
            elif top == "ember":
                parts = module.split(".")
                target = parts[1] if len(parts) > 1 else "ember"
                if target in FOLDERS and target != folder and target not in ALLOWED[folder]:
                    problems.append(f"{where}: {folder} may not import {module}")
                if target == "ember" and folder != "ember":
                    problems.append(f"{where}: {folder} may not import the ember façade")
                if target not in FOLDERS and target != "ember" and folder != "ember":
                    problems.append(f"{where}: {folder} may not import the façade module {module}")
    assert not problems, "\n".join(problems)


def test_setup_cfg_maps_every_package_folder():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    mapping = dict(line.split("=") for line in config["options"]["package_dir"].split("\n") if line.strip())
    mapping = {key.strip(): value.strip() for key, value in mapping.items()}
    packages = {p.strip() for p in config["options"]["packages"].split("\n") if p.strip()}
    folders = {p.parent.relative_to(ROOT).as_posix() for p in ROOT.glob("*/__init__.py")}
    folders -= {"tests", "benchmarks"}
    assert set(mapping.values()) == folders, "every package folder must be mapped in setup.cfg"
    for name, folder in mapping.items():
        assert name == "ember" or name == f"ember.{folder}"
    nested = {".".join(("ember", *p.parent.relative_to(ROOT).parts))
              for folder in folders - {"ember"} for p in (ROOT / folder).glob("*/**/__init__.py")}
    assert packages == set(mapping) | nested, \
        "every mapped package and every subpackage of one must be listed in packages"


def test_modules_load_under_their_ember_names_only():
    import sys

    import ember.driver.context  # noqa: F401 - loads most of the engine

    assert not any(name.split(".")[0] in FOLDERS for name in sys.modules), \
        "a package was imported under its folder name"
