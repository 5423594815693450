"""Porting by one word: every public name of the PySpark modules an RDD,
DStream or MLlib program imports from (``tests/compat/pyspark_public_names.json``, written by
``tests/compat/pyspark_names.py`` from an installed pyspark) imports from
the ember module of the same name (``pyspark.shuffle`` -> ``ember.shuffle``).

``tests/compat/pyspark_left_out.json`` names the few that have no meaning on
ember, and why; each must still be a PySpark name (a stale entry fails), and
ember must not have it (or it would not be left out)."""

from __future__ import annotations

import importlib
import json
import pathlib

import pytest

COMPAT = pathlib.Path(__file__).resolve().parent.parent / "compat"
MODULES = json.loads((COMPAT / "pyspark_public_names.json").read_text())["modules"]
LEFT_OUT = json.loads((COMPAT / "pyspark_left_out.json").read_text())



@pytest.mark.parametrize("pyspark_module", sorted(MODULES))
def test_every_public_name_imports_from_the_ember_module_of_the_same_name(pyspark_module):
    ember_module = importlib.import_module("ember" + pyspark_module[len("pyspark"):])
    left_out = LEFT_OUT.get(pyspark_module, {})
    missing = []
    for name in MODULES[pyspark_module]:
        if name in left_out:
            continue
        try:
            exec(f"from {ember_module.__name__} import {name}", {})
        except ImportError:
            missing.append(name)
    assert not missing, f"{ember_module.__name__} lacks {missing} (PySpark's {pyspark_module} has them)"


def test_names_left_out_are_pyspark_names_that_ember_lacks():
    for module, names in LEFT_OUT.items():
        ember_module = importlib.import_module("ember" + module[len("pyspark"):])
        for name in names:
            assert name in MODULES[module], f"{module}.{name} is no PySpark name any more"
            assert not hasattr(ember_module, name), f"{ember_module.__name__} has {name} now"
