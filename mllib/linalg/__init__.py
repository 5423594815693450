"""Local vectors and matrices: MLlib's linear algebra types.

Owns ``Vector`` (``DenseVector``, ``SparseVector``), ``Matrix``
(``DenseMatrix``, ``SparseMatrix``), the ``Vectors`` and ``Matrices``
factories and ``QRDecomposition``. Dense data is a numpy float64 array, so
numpy arrays, lists and tuples are accepted wherever a vector is
(``_convert_to_vector``); SciPy sparse column vectors are accepted too when
SciPy is installed.

Invariants, as PySpark's:

* A ``SparseVector``'s indices are int32, strictly increasing and below its
  size; its values are float64 and as many.
* A ``DenseMatrix`` stores its values column-major unless ``isTransposed``
  (then row-major); a ``SparseMatrix`` is CSC unless ``isTransposed`` (CSR).
* Each type pickles to its raw bytes (``__reduce__``), so vectors cross the
  wire as buffers, not as lists of floats. A matrix pickles its
  ``isTransposed`` flag as an int, so matrices that travelled (and those the
  algorithms return) print it as ``0``, as PySpark's do.
* ``repr`` shows values rounded to four decimals; ``str`` is the text form
  ``Vectors.parse`` reads back.

What it must not know: RDDs, Contexts, anything distributed
(``ember.mllib.linalg.distributed`` owns that).
"""

from __future__ import annotations

import array
import struct
from typing import Any, Iterable

import numpy as np

try:  # SciPy is optional: with it, scipy.sparse column vectors are vectors too.
    import scipy.sparse as _sparse
except ImportError:  # pragma: no cover - depends on the environment
    _sparse = None

__all__ = [
    "Vector",
    "DenseVector",
    "SparseVector",
    "Vectors",
    "Matrix",
    "DenseMatrix",
    "SparseMatrix",
    "Matrices",
    "QRDecomposition",
]


def _is_scipy_sparse(value: Any) -> bool:
    return _sparse is not None and _sparse.issparse(value)


def _convert_to_vector(value: Any) -> "Vector":
    """A ``Vector`` for anything MLlib accepts as one.

    >>> _convert_to_vector([1, 2])
    DenseVector([1.0, 2.0])
    >>> _convert_to_vector({1: 2})
    Traceback (most recent call last):
        ...
    TypeError: Cannot convert type <class 'dict'> into Vector
    """
    if isinstance(value, Vector):
        return value
    if isinstance(value, (array.array, np.ndarray, list, tuple, range)):
        return DenseVector(value)
    if _is_scipy_sparse(value):
        if value.shape[1] != 1:
            raise ValueError(f"a scipy.sparse matrix is a vector only as one column, got "
                             f"shape {value.shape}")
        column = value.tocsc()
        column.sort_indices()
        return SparseVector(value.shape[0], column.indices, column.data)
    raise TypeError(f"Cannot convert type {type(value)} into Vector")


def _vector_size(value: Any) -> int:
    """The size of anything MLlib accepts as a vector.

    >>> _vector_size((1., 2., 3.))
    3
    >>> _vector_size(np.zeros((3, 1)))
    3
    >>> _vector_size(np.zeros((1, 3)))
    Traceback (most recent call last):
        ...
    ValueError: Cannot treat an ndarray of shape (1, 3) as a vector
    """
    if isinstance(value, Vector):
        return len(value)
    if isinstance(value, (array.array, list, tuple, range)):
        return len(value)
    if isinstance(value, np.ndarray):
        if value.ndim == 1 or (value.ndim == 2 and value.shape[1] == 1):
            return len(value)
        raise ValueError(f"Cannot treat an ndarray of shape {value.shape} as a vector")
    if _is_scipy_sparse(value):
        if value.shape[1] != 1:
            raise ValueError(f"a scipy.sparse matrix is a vector only as one column, got "
                             f"shape {value.shape}")
        return value.shape[0]
    raise TypeError(f"Cannot treat type {type(value)} as a vector")


def _format_float(value: float, digits: int = 4) -> str:
    """``value`` rounded to ``digits`` decimals, as vectors and matrices print it."""
    text = str(round(value, digits))
    if "." in text:
        text = text[:text.index(".") + 1 + digits]
    return text


def _format_float_list(values: Iterable[float]) -> list[str]:
    return [_format_float(value) for value in values]


def _double_to_long_bits(value: float) -> int:
    """The 64 bits of a double as an unsigned integer (Java's doubleToLongBits)."""
    if value != value:  # every NaN hashes as the canonical one
        value = float("nan")
    return struct.unpack("Q", struct.pack("d", value))[0]


def _java_hash(size: int, indices: Iterable[int], values: Iterable[float]) -> int:
    """The hash Spark's vectors use: size, then up to 128 active non-zeros."""
    result = 31 + size
    taken = 0
    for index, value in zip(indices, values):
        if taken >= 128:
            break
        if value != 0:
            bits = _double_to_long_bits(float(value))
            result = 31 * (31 * result + int(index)) + (bits ^ (bits >> 32))
            taken += 1
    return result


def _nonzero_entries(indices: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    active = values != 0
    return np.asarray(indices)[active], values[active]


class Vector:
    """A local vector: ``DenseVector`` or ``SparseVector``."""

    def toArray(self) -> np.ndarray:
        """The vector as a one-dimensional numpy array."""
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class DenseVector(Vector):
    """A dense vector over a float64 numpy array; arithmetic is numpy's.

    >>> v = Vectors.dense([1.0, 2.0])
    >>> u = Vectors.dense([3.0, 4.0])
    >>> v + u
    DenseVector([4.0, 6.0])
    >>> 2 - v
    DenseVector([1.0, 0.0])
    >>> v / 2
    DenseVector([0.5, 1.0])
    >>> v * u
    DenseVector([3.0, 8.0])
    >>> u % 2
    DenseVector([1.0, 0.0])
    >>> -v
    DenseVector([-1.0, -2.0])
    >>> float(v.norm(1)), v.numNonzeros()
    (3.0, 2)
    """

    def __init__(self, ar: bytes | np.ndarray | Iterable[float]):
        if isinstance(ar, bytes):
            values = np.frombuffer(ar, dtype=np.float64)
        elif isinstance(ar, np.ndarray):
            values = ar if ar.dtype == np.float64 else ar.astype(np.float64)
        else:
            values = np.array(ar, dtype=np.float64)
        self.array = values

    @staticmethod
    def parse(s: str) -> "DenseVector":
        """Read the text form back (``[v0,v1,...]``).

        >>> DenseVector.parse(' [ 0.0,1.0,2.0,  3.0]')
        DenseVector([0.0, 1.0, 2.0, 3.0])
        >>> DenseVector.parse('0.0, 1.0')
        Traceback (most recent call last):
            ...
        ValueError: Array should start with '['.
        """
        start = s.find("[")
        if start == -1:
            raise ValueError("Array should start with '['.")
        end = s.find("]")
        if end == -1:
            raise ValueError("Array should end with ']'.")
        body = s[start + 1:end]
        try:
            values = [float(item) for item in body.split(",") if item.strip()]
        except ValueError:
            raise ValueError(f"Unable to parse values from {body}") from None
        return DenseVector(values)

    def __reduce__(self):
        return DenseVector, (self.array.tobytes(),)

    def numNonzeros(self) -> int:
        """The number of non-zero values."""
        return int(np.count_nonzero(self.array))

    def norm(self, p: float | str) -> np.float64:
        """The p-norm of the vector.

        >>> a = DenseVector([0, -1, 2, -3])
        >>> round(float(a.norm(2)), 4), float(a.norm(1)), float(a.norm(float("inf")))
        (3.7417, 6.0, 3.0)
        """
        return np.linalg.norm(self.array, p)

    def dot(self, other: Any) -> np.float64 | np.ndarray:
        """The dot product with a vector (or the product with a matrix whose
        rows match this vector's size).

        >>> dense = DenseVector(array.array('d', [1., 2.]))
        >>> float(dense.dot(dense)), float(dense.dot(SparseVector(2, [0, 1], [2., 1.])))
        (5.0, 4.0)
        >>> dense.dot(np.reshape([1., 2., 3., 4.], (2, 2), order='F'))
        array([ 5., 11.])
        >>> dense.dot([1.])
        Traceback (most recent call last):
            ...
        AssertionError: dimension mismatch
        """
        if isinstance(other, np.ndarray):
            if other.ndim > 1:
                assert len(self) == other.shape[0], "dimension mismatch"
            return np.dot(self.array, other)
        if _is_scipy_sparse(other):
            assert len(self) == other.shape[0], "dimension mismatch"
            return other.transpose().dot(self.array)
        assert len(self) == _vector_size(other), "dimension mismatch"
        if isinstance(other, SparseVector):
            return other.dot(self)
        if isinstance(other, Vector):
            return np.dot(self.array, other.toArray())
        return np.dot(self.array, np.asarray(other, dtype=np.float64))

    def squared_distance(self, other: Any) -> np.float64:
        """The squared Euclidean distance to another vector.

        >>> dense1 = DenseVector(array.array('d', [1., 2.]))
        >>> float(dense1.squared_distance([2., 1.]))
        2.0
        >>> float(dense1.squared_distance(SparseVector(2, [0, 1], [2., 1.])))
        2.0
        >>> dense1.squared_distance(SparseVector(1, [0], [1.]))
        Traceback (most recent call last):
            ...
        AssertionError: dimension mismatch
        """
        assert len(self) == _vector_size(other), "dimension mismatch"
        if isinstance(other, SparseVector):
            return other.squared_distance(self)
        if _is_scipy_sparse(other):
            return _convert_to_vector(other).squared_distance(self)
        if isinstance(other, Vector):
            other = other.toArray()
        diff = self.array - np.asarray(other, dtype=np.float64).ravel()
        return np.dot(diff, diff)

    def toArray(self) -> np.ndarray:
        """The underlying numpy array (not a copy)."""
        return self.array

    @property
    def values(self) -> np.ndarray:
        """The values, as a numpy array."""
        return self.array

    def __getitem__(self, item):
        return self.array[item]

    def __len__(self) -> int:
        return len(self.array)

    def __str__(self) -> str:
        return "[" + ",".join(str(value) for value in self.array) + "]"

    def __repr__(self) -> str:
        return "DenseVector([%s])" % ", ".join(_format_float(value) for value in self.array)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, DenseVector):
            return bool(np.array_equal(self.array, other.array))
        if isinstance(other, SparseVector):
            return other == self
        return False

    def __ne__(self, other: Any) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return _java_hash(len(self), range(len(self)), self.array)

    def __getattr__(self, item: str) -> Any:
        if item == "array":  # not set yet (copying): never recurse
            raise AttributeError(item)
        return getattr(self.array, item)

    def __neg__(self) -> "DenseVector":
        return DenseVector(-self.array)

    def _delegate(op: str):  # noqa: N805 - a helper run while the class body is built
        def apply(self, other):
            if isinstance(other, DenseVector):
                other = other.array
            return DenseVector(getattr(self.array, op)(other))

        apply.__name__ = op
        return apply

    __add__ = _delegate("__add__")
    __sub__ = _delegate("__sub__")
    __mul__ = _delegate("__mul__")
    __truediv__ = _delegate("__truediv__")
    __mod__ = _delegate("__mod__")
    __radd__ = _delegate("__radd__")
    __rsub__ = _delegate("__rsub__")
    __rmul__ = _delegate("__rmul__")
    __rtruediv__ = _delegate("__rtruediv__")
    __rmod__ = _delegate("__rmod__")
    del _delegate


class SparseVector(Vector):
    """A sparse vector: a size, strictly increasing int32 indices and their
    float64 values. Made from a dict, a list of ``(index, value)`` pairs, or
    separate index and value lists.

    >>> SparseVector(4, {1: 1.0, 3: 5.5})
    SparseVector(4, {1: 1.0, 3: 5.5})
    >>> SparseVector(4, [(3, 5.5), (1, 1.0)])
    SparseVector(4, {1: 1.0, 3: 5.5})
    >>> SparseVector(4, [1, 3], [1.0, 5.5])
    SparseVector(4, {1: 1.0, 3: 5.5})
    >>> SparseVector(4, [3, 1], [1.0, 5.5])
    Traceback (most recent call last):
        ...
    TypeError: Indices 3 and 1 are not strictly increasing
    """

    def __init__(self, size: int, *args: Any):
        self.size = int(size)
        if not 1 <= len(args) <= 2:
            raise TypeError(f"SparseVector takes a size and either a dict or list of (index, "
                            f"value) pairs, or an index list and a value list; got "
                            f"{len(args) + 1} arguments")
        if len(args) == 1:
            pairs = args[0]
            if isinstance(pairs, dict):
                pairs = pairs.items()
            pairs = sorted(pairs)
            self.indices = np.array([pair[0] for pair in pairs], dtype=np.int32)
            self.values = np.array([pair[1] for pair in pairs], dtype=np.float64)
        elif isinstance(args[0], bytes):
            if not isinstance(args[1], bytes):
                raise TypeError("values should be bytes too when indices are bytes")
            self.indices = np.frombuffer(args[0], np.int32)
            self.values = np.frombuffer(args[1], np.float64)
        else:
            self.indices = np.array(args[0], dtype=np.int32).reshape(-1)
            self.values = np.array(args[1], dtype=np.float64).reshape(-1)
        if len(self.indices) != len(self.values):
            raise ValueError(f"index and value arrays not same length: {len(self.indices)} "
                             f"indices, {len(self.values)} values")
        if len(self.indices) > 1:
            steps = np.diff(self.indices)
            if (steps <= 0).any():
                at = int(np.argmax(steps <= 0))
                raise TypeError(f"Indices {self.indices[at]} and {self.indices[at + 1]} are "
                                f"not strictly increasing")

    def numNonzeros(self) -> int:
        """The number of non-zero values among the active ones."""
        return int(np.count_nonzero(self.values))

    def norm(self, p: float | str) -> np.float64:
        """The p-norm of the vector.

        >>> a = SparseVector(4, [0, 1], [3., -4.])
        >>> float(a.norm(1)), float(a.norm(2))
        (7.0, 5.0)
        """
        return np.linalg.norm(self.values, p)

    def __reduce__(self):
        return SparseVector, (self.size, self.indices.tobytes(), self.values.tobytes())

    @staticmethod
    def parse(s: str) -> "SparseVector":
        """Read the text form back (``(size,[indices],[values])``).

        >>> SparseVector.parse(' (4, [0,1 ],[ 4.0,5.0] )')
        SparseVector(4, {0: 4.0, 1: 5.0})
        """
        start = s.find("(")
        if start == -1:
            raise ValueError("Tuple should start with '('")
        end = s.find(")")
        if end == -1:
            raise ValueError("Tuple should end with ')'")
        body = s[start + 1:end].strip()
        size_text = body[:body.find(",")]
        try:
            size = int(size_text)
        except ValueError:
            raise ValueError(f"Cannot parse size {size_text}.") from None
        ind_start, ind_end = body.find("["), body.find("]")
        if ind_start == -1:
            raise ValueError("Indices array should start with '['.")
        if ind_end == -1:
            raise ValueError("Indices array should end with ']'")
        index_text = body[ind_start + 1:ind_end]
        try:
            indices = [int(item) for item in index_text.split(",") if item.strip()]
        except ValueError:
            raise ValueError(f"Unable to parse indices from {index_text}.") from None
        rest = body[ind_end + 1:].strip()
        val_start, val_end = rest.find("["), rest.find("]")
        if val_start == -1:
            raise ValueError("Values array should start with '['.")
        if val_end == -1:
            raise ValueError("Values array should end with ']'.")
        value_text = rest[val_start + 1:val_end]
        try:
            values = [float(item) for item in value_text.split(",") if item.strip()]
        except ValueError:
            raise ValueError(f"Unable to parse values from {value_text}.") from None
        return SparseVector(size, indices, values)

    def dot(self, other: Any) -> np.float64 | np.ndarray:
        """The dot product with a vector, or the product with a one- or
        two-dimensional array whose rows match this vector's size.

        >>> a = SparseVector(4, [1, 3], [3.0, 4.0])
        >>> float(a.dot(a)), float(a.dot(array.array('d', [1., 2., 3., 4.])))
        (25.0, 22.0)
        >>> float(a.dot(SparseVector(4, [2], [1.0])))
        0.0
        >>> a.dot(np.array([[1, 1], [2, 2], [3, 3], [4, 4]]))
        array([22., 22.])
        >>> a.dot(DenseVector([1., 2.]))
        Traceback (most recent call last):
            ...
        AssertionError: dimension mismatch
        """
        if isinstance(other, np.ndarray):
            if other.ndim not in (1, 2):
                raise ValueError(f"Cannot call dot with {other.ndim}-dimensional array")
            assert len(self) == other.shape[0], "dimension mismatch"
            return np.dot(self.values, other[self.indices])
        assert len(self) == _vector_size(other), "dimension mismatch"
        if isinstance(other, DenseVector):
            return np.dot(other.array[self.indices], self.values)
        if isinstance(other, SparseVector):
            _, mine, theirs = np.intersect1d(self.indices, other.indices, assume_unique=True,
                                             return_indices=True)
            return np.float64(np.dot(self.values[mine], other.values[theirs]))
        return self.dot(_convert_to_vector(other))

    def squared_distance(self, other: Any) -> np.float64:
        """The squared Euclidean distance to another vector.

        >>> a = SparseVector(4, [1, 3], [3.0, 4.0])
        >>> float(a.squared_distance(np.array([1., 2., 3., 4.])))
        11.0
        >>> b = SparseVector(4, [2], [1.0])
        >>> float(a.squared_distance(b)), float(b.squared_distance(a))
        (26.0, 26.0)
        >>> b.squared_distance([1., 2.])
        Traceback (most recent call last):
            ...
        AssertionError: dimension mismatch
        """
        assert len(self) == _vector_size(other), "dimension mismatch"
        if isinstance(other, (np.ndarray, DenseVector)):
            dense = other.array if isinstance(other, DenseVector) else other
            if dense.ndim != 1:
                raise ValueError(f"Cannot call squared_distance with {dense.ndim}-dimensional "
                                 f"array")
            diff = np.asarray(dense, dtype=np.float64).copy()
            diff[self.indices] -= self.values
            return np.dot(diff, diff)
        if isinstance(other, SparseVector):
            union = np.union1d(self.indices, other.indices)
            diff = np.zeros(len(union))
            diff[np.searchsorted(union, self.indices)] += self.values
            diff[np.searchsorted(union, other.indices)] -= other.values
            return np.dot(diff, diff)
        return self.squared_distance(_convert_to_vector(other))

    def toArray(self) -> np.ndarray:
        """A dense copy, as a numpy array."""
        dense = np.zeros(self.size, dtype=np.float64)
        dense[self.indices] = self.values
        return dense

    def __len__(self) -> int:
        return self.size

    def __str__(self) -> str:
        indices = "[" + ",".join(str(index) for index in self.indices) + "]"
        values = "[" + ",".join(str(value) for value in self.values) + "]"
        return f"({self.size},{indices},{values})"

    def __repr__(self) -> str:
        entries = ", ".join(f"{index}: {_format_float(value)}"
                            for index, value in zip(self.indices, self.values))
        return f"SparseVector({self.size}, {{{entries}}})"

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, SparseVector):
            return (self.size == other.size and np.array_equal(self.indices, other.indices)
                    and np.array_equal(self.values, other.values))
        if isinstance(other, DenseVector):
            if self.size != len(other):
                return False
            mine = _nonzero_entries(self.indices, self.values)
            theirs = _nonzero_entries(np.arange(len(other)), other.array)
            return bool(np.array_equal(mine[0], theirs[0]) and np.array_equal(mine[1], theirs[1]))
        return False

    def __ne__(self, other: Any) -> bool:
        return not self == other

    def __getitem__(self, index: int) -> np.float64:
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"Indices must be of type integer, got type {type(index)}")
        if index >= self.size or index < -self.size:
            raise IndexError(f"Index {index} out of bounds.")
        if index < 0:
            index += self.size
        position = np.searchsorted(self.indices, index)
        if position < len(self.indices) and self.indices[position] == index:
            return self.values[position]
        return np.float64(0.0)

    def __hash__(self) -> int:
        return _java_hash(self.size, self.indices, self.values)


class Vectors:
    """Factories and helpers for vectors. Dense data may also be passed as
    plain numpy arrays, lists or tuples wherever MLlib takes a vector."""

    @staticmethod
    def sparse(size: int, *args: Any) -> SparseVector:
        """A sparse vector from a dict, ``(index, value)`` pairs, or an index
        list and a value list.

        >>> Vectors.sparse(4, {1: 1.0, 3: 5.5})
        SparseVector(4, {1: 1.0, 3: 5.5})
        >>> Vectors.sparse(4, [1, 3], [1.0, 5.5])
        SparseVector(4, {1: 1.0, 3: 5.5})
        """
        return SparseVector(size, *args)

    @staticmethod
    def dense(*elements: Any) -> DenseVector:
        """A dense vector from numbers or from one iterable of them.

        >>> Vectors.dense([1, 2, 3])
        DenseVector([1.0, 2.0, 3.0])
        >>> Vectors.dense(1.0, 2.0)
        DenseVector([1.0, 2.0])
        """
        if len(elements) == 1 and not isinstance(elements[0], (float, int, np.number)):
            return DenseVector(elements[0])
        return DenseVector(elements)

    @staticmethod
    def stringify(vector: Vector) -> str:
        """The text form, which ``Vectors.parse`` reads back.

        >>> Vectors.stringify(Vectors.sparse(2, [1], [1.0]))
        '(2,[1],[1.0])'
        >>> Vectors.stringify(Vectors.dense([0.0, 1.0]))
        '[0.0,1.0]'
        """
        return str(vector)

    @staticmethod
    def squared_distance(v1: Any, v2: Any) -> np.float64:
        """The squared distance between two vectors of any accepted kind.

        >>> float(Vectors.squared_distance(Vectors.sparse(4, [(0, 1), (3, 4)]), [2, 5, 4, 1]))
        51.0
        """
        return _convert_to_vector(v1).squared_distance(_convert_to_vector(v2))

    @staticmethod
    def norm(vector: Any, p: float | str) -> np.float64:
        """The p-norm of a vector of any accepted kind.

        >>> float(Vectors.norm([3.0, -4.0], 2))
        5.0
        """
        return _convert_to_vector(vector).norm(p)

    @staticmethod
    def parse(s: str) -> Vector:
        """A vector from its text form.

        >>> Vectors.parse('[2,1,2 ]')
        DenseVector([2.0, 1.0, 2.0])
        >>> Vectors.parse(' ( 100,  [0],  [2])')
        SparseVector(100, {0: 2.0})
        >>> Vectors.parse('2, 1')
        Traceback (most recent call last):
            ...
        ValueError: Cannot find tokens '[' or '(' from the input string.
        """
        if s.find("(") == -1 and s.find("[") != -1:
            return DenseVector.parse(s)
        if s.find("(") != -1:
            return SparseVector.parse(s)
        raise ValueError("Cannot find tokens '[' or '(' from the input string.")

    @staticmethod
    def zeros(size: int) -> DenseVector:
        """A dense vector of ``size`` zeros.

        >>> Vectors.zeros(2)
        DenseVector([0.0, 0.0])
        """
        return DenseVector(np.zeros(size))


class Matrix:
    """A local matrix: ``DenseMatrix`` or ``SparseMatrix``."""

    def __init__(self, numRows: int, numCols: int, isTransposed: bool = False):
        self.numRows = numRows
        self.numCols = numCols
        self.isTransposed = isTransposed

    def toArray(self) -> np.ndarray:
        """The matrix as a two-dimensional numpy array."""
        raise NotImplementedError

    @staticmethod
    def _convert_to_array(array_like: Any, dtype: Any) -> np.ndarray:
        if isinstance(array_like, bytes):
            return np.frombuffer(array_like, dtype=dtype)
        return np.asarray(array_like, dtype=dtype)


def _check_index(name: str, index: int, bound: int) -> None:
    if index < 0 or index >= bound:
        raise IndexError(f"{name} index {index} is out of range [0, {bound})")


class DenseMatrix(Matrix):
    """A dense matrix, values column-major (row-major when ``isTransposed``).

    >>> m = DenseMatrix(2, 2, range(4))
    >>> m
    DenseMatrix(2, 2, [0.0, 1.0, 2.0, 3.0], False)
    >>> m.toArray()
    array([[0., 2.],
           [1., 3.]])
    >>> print(DenseMatrix(2, 2, range(4), isTransposed=True))
    DenseMatrix([[0., 1.],
                 [2., 3.]])
    >>> float(m[1, 0])
    1.0
    """

    def __init__(self, numRows: int, numCols: int, values: Any, isTransposed: bool = False):
        super().__init__(numRows, numCols, isTransposed)
        values = self._convert_to_array(values, np.float64).reshape(-1)
        if len(values) != numRows * numCols:
            raise ValueError(f"a {numRows} x {numCols} DenseMatrix needs "
                             f"{numRows * numCols} values, got {len(values)}")
        self.values = values

    def __reduce__(self):
        return DenseMatrix, (self.numRows, self.numCols, self.values.tobytes(),
                             int(self.isTransposed))

    def __str__(self) -> str:
        lines = repr(self.toArray()).splitlines()
        # "DenseMatrix" is six letters longer than "array": indent the rest to match.
        return "\n".join([lines[0].replace("array", "DenseMatrix")]
                         + [" " * 6 + line for line in lines[1:]])

    def __repr__(self) -> str:
        if len(self.values) < 17:
            entries = _format_float_list(self.values)
        else:
            entries = (_format_float_list(self.values[:8]) + ["..."]
                       + _format_float_list(self.values[-8:]))
        return (f"DenseMatrix({self.numRows}, {self.numCols}, [{', '.join(entries)}], "
                f"{self.isTransposed})")

    def toArray(self) -> np.ndarray:
        """The matrix as a numpy array (Fortran order)."""
        if self.isTransposed:
            return np.asfortranarray(self.values.reshape((self.numRows, self.numCols)))
        return self.values.reshape((self.numRows, self.numCols), order="F")

    def toSparse(self) -> "SparseMatrix":
        """The same matrix in CSC form, zeros dropped.

        >>> DenseMatrix(2, 2, [0, 1, 0, 2]).toSparse()
        SparseMatrix(2, 2, [0, 1, 2], [1, 1], [1.0, 2.0], False)
        """
        column_major = np.ravel(self.toArray(), order="F")
        positions = np.nonzero(column_major)[0]
        counts = np.bincount(positions // self.numRows, minlength=self.numCols)
        col_ptrs = np.concatenate(([0], np.cumsum(counts)))
        return SparseMatrix(self.numRows, self.numCols, col_ptrs, positions % self.numRows,
                            column_major[positions])

    def __getitem__(self, indices: tuple[int, int]) -> np.float64:
        i, j = indices
        _check_index("Row", i, self.numRows)
        _check_index("Column", j, self.numCols)
        if self.isTransposed:
            return self.values[i * self.numCols + j]
        return self.values[i + j * self.numRows]

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Matrix):
            return False
        if self.numRows != other.numRows or self.numCols != other.numCols:
            return False
        return bool(np.array_equal(self.toArray(), other.toArray()))

    __hash__ = None


class SparseMatrix(Matrix):
    """A sparse matrix in CSC form (CSR when ``isTransposed``).

    >>> sm = SparseMatrix(2, 2, [0, 2, 3], [0, 1, 1], [2, 3, 4])
    >>> sm
    SparseMatrix(2, 2, [0, 2, 3], [0, 1, 1], [2.0, 3.0, 4.0], False)
    >>> print(sm)
    2 X 2 CSCMatrix
    (0,0) 2.0
    (1,0) 3.0
    (1,1) 4.0
    >>> print(SparseMatrix(2, 2, [0, 2, 3], [0, 1, 1], [2, 3, 4], True))
    2 X 2 CSRMatrix
    (0,0) 2.0
    (0,1) 3.0
    (1,1) 4.0
    >>> sm.toArray()
    array([[2., 0.],
           [3., 4.]])
    >>> SparseMatrix(2, 2, [0, 2], [0, 1], [2, 3])
    Traceback (most recent call last):
        ...
    ValueError: Expected colPtrs of size 3, got 2.
    """

    def __init__(self, numRows: int, numCols: int, colPtrs: Any, rowIndices: Any, values: Any,
                 isTransposed: bool = False):
        super().__init__(numRows, numCols, isTransposed)
        self.colPtrs = self._convert_to_array(colPtrs, np.int32)
        self.rowIndices = self._convert_to_array(rowIndices, np.int32)
        self.values = self._convert_to_array(values, np.float64)
        expected = (numRows if isTransposed else numCols) + 1
        if self.colPtrs.size != expected:
            raise ValueError(f"Expected colPtrs of size {expected}, got {self.colPtrs.size}.")
        if self.rowIndices.size != self.values.size:
            raise ValueError(f"Expected rowIndices of length {self.values.size}, got "
                             f"{self.rowIndices.size}.")

    def _major_indices(self) -> np.ndarray:
        """For each stored value, its column (its row when transposed)."""
        return np.repeat(np.arange(self.colPtrs.size - 1), np.diff(self.colPtrs))

    def __str__(self) -> str:
        header = f"{self.numRows} X {self.numCols} {'CSRMatrix' if self.isTransposed else 'CSCMatrix'}\n"
        shown = min(len(self.values), 16)
        major = self._major_indices()[:shown]
        lines = []
        for outer, inner, value in zip(major, self.rowIndices[:shown], self.values[:shown]):
            row, col = (outer, inner) if self.isTransposed else (inner, outer)
            lines.append(f"({row},{col}) {_format_float(value)}")
        text = header + "\n".join(lines)
        if len(self.values) > 16:
            text += "\n.." * 2
        return text

    def __repr__(self) -> str:
        row_indices: list = list(self.rowIndices)
        col_ptrs: list = list(self.colPtrs)
        if len(self.values) <= 16:
            values = _format_float_list(self.values)
        else:
            values = (_format_float_list(self.values[:8]) + ["..."]
                      + _format_float_list(self.values[-8:]))
            row_indices = row_indices[:8] + ["..."] + row_indices[-8:]
        if len(col_ptrs) > 16:
            col_ptrs = col_ptrs[:8] + ["..."] + col_ptrs[-8:]
        return (f"SparseMatrix({self.numRows}, {self.numCols}, "
                f"[{', '.join(str(p) for p in col_ptrs)}], "
                f"[{', '.join(str(i) for i in row_indices)}], [{', '.join(values)}], "
                f"{self.isTransposed})")

    def __reduce__(self):
        return SparseMatrix, (self.numRows, self.numCols, self.colPtrs.tobytes(),
                              self.rowIndices.tobytes(), self.values.tobytes(),
                              int(self.isTransposed))

    def __getitem__(self, indices: tuple[int, int]) -> np.float64:
        i, j = indices
        _check_index("Row", i, self.numRows)
        _check_index("Column", j, self.numCols)
        if self.isTransposed:
            i, j = j, i
        start, end = self.colPtrs[j], self.colPtrs[j + 1]
        position = start + np.searchsorted(self.rowIndices[start:end], i)
        if position < end and self.rowIndices[position] == i:
            return self.values[position]
        return np.float64(0.0)

    def toArray(self) -> np.ndarray:
        """The matrix as a dense numpy array (Fortran order)."""
        dense = np.zeros((self.numRows, self.numCols), dtype=np.float64, order="F")
        major = self._major_indices()
        if self.isTransposed:
            dense[major, self.rowIndices] = self.values
        else:
            dense[self.rowIndices, major] = self.values
        return dense

    def toDense(self) -> DenseMatrix:
        """The same matrix as a column-major ``DenseMatrix``."""
        return DenseMatrix(self.numRows, self.numCols, np.ravel(self.toArray(), order="F"))

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Matrix):
            return False
        return (self.numRows == other.numRows and self.numCols == other.numCols
                and bool(np.array_equal(self.toArray(), other.toArray())))

    __hash__ = None


class Matrices:
    """Factories for local matrices."""

    @staticmethod
    def dense(numRows: int, numCols: int, values: Any) -> DenseMatrix:
        """A column-major dense matrix.

        >>> Matrices.dense(2, 1, [1, 2])
        DenseMatrix(2, 1, [1.0, 2.0], False)
        """
        return DenseMatrix(numRows, numCols, values)

    @staticmethod
    def sparse(numRows: int, numCols: int, colPtrs: Any, rowIndices: Any,
               values: Any) -> SparseMatrix:
        """A CSC sparse matrix.

        >>> Matrices.sparse(2, 2, [0, 1, 2], [0, 1], [1, 2]).toArray()
        array([[1., 0.],
               [0., 2.]])
        """
        return SparseMatrix(numRows, numCols, colPtrs, rowIndices, values)


class QRDecomposition:
    """The factors of a QR decomposition: ``Q`` (``None`` when not computed)
    and the upper triangular ``R``.

    >>> qr = QRDecomposition(None, DenseMatrix(1, 1, [2.0]))
    >>> qr.Q is None, qr.R
    (True, DenseMatrix(1, 1, [2.0], False))
    """

    def __init__(self, Q: Any, R: Any):
        self._Q = Q
        self._R = R

    @property
    def Q(self) -> Any:
        """An orthogonal matrix Q, or None if it was not computed."""
        return self._Q

    @property
    def R(self) -> Any:
        """The upper triangular matrix R."""
        return self._R
