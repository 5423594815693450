"""How ember turns objects into bytes and back.

Owns one format for everything that crosses a process boundary: cloudpickle
at pickle protocol 5. cloudpickle handles what plain pickle cannot (lambdas,
closures, classes defined in ``__main__`` or a notebook) and costs the same as
pickle for builtin containers of builtin values, which it leaves to the C
pickler. Identity is preserved on a round trip: a class defined in the
driver's ``__main__`` that travels to a worker and back is the driver's class
again, so ``except MyError`` still catches an exception raised in a task.

Records travel in batches (one pickled list per block or result), never one
message per record.

Also owns the diagnosis of an unpicklable closure: which captured variable,
of which type, broke it.
"""

from __future__ import annotations

import functools
import pickle
import types
from typing import Any

import cloudpickle

PROTOCOL = 5


def dumps(obj: Any) -> bytes:
    return cloudpickle.dumps(obj, protocol=PROTOCOL)


def loads(data) -> Any:
    return pickle.loads(data)


def unpicklable_parts(func: Any, limit: int = 3) -> list[tuple[str, str, str]]:
    """Name the captured variables that stop ``func`` from pickling.

    Returns up to ``limit`` tuples (variable name, type name, reason), looking
    at closure cells, referenced globals, default arguments and bound
    ``self``; it recurses into captured functions (pipelined transformations
    nest the user's functions). An empty list means no culprit was isolated.
    """
    found: list[tuple[str, str, str]] = []
    seen: set[int] = set()

    def check(name: str, value: Any) -> None:
        if len(found) >= limit or id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, (types.FunctionType, types.MethodType)):
            before = len(found)
            visit(value)
            if len(found) > before:
                return
        try:
            cloudpickle.dumps(value, protocol=PROTOCOL)
        except Exception as error:  # noqa: BLE001 - any failure is the answer
            found.append((name, _type_name(value), f"{type(error).__name__}: {error}"))

    def visit(f: Any) -> None:
        if isinstance(f, types.MethodType):
            check("self", f.__self__)
            f = f.__func__
        if isinstance(f, functools.partial):
            check("partial.func", f.func)
            for i, arg in enumerate(f.args):
                check(f"partial.args[{i}]", arg)
            return
        code = getattr(f, "__code__", None)
        if code is None:
            return
        for var, cell in zip(code.co_freevars, f.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:  # empty cell
                continue
            check(var, value)
        module_globals = getattr(f, "__globals__", {})
        for var in _global_names(code):
            if var in module_globals:
                check(var, module_globals[var])
        for i, default in enumerate(f.__defaults__ or ()):
            check(f"default argument {i}", default)

    visit(func)
    if not found and not isinstance(func, (types.FunctionType, types.MethodType)):
        check(type(func).__name__, func)
    return found


def _global_names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # nested functions and lambdas
            names.extend(_global_names(const))
    return names


def _type_name(value: Any) -> str:
    kind = type(value)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
