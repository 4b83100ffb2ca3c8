"""Measurements from a CSV file: typed columns, derived columns, row filters, with errors naming row or column.

Expressions (``--define "D=C/(6*N)"``, ``--where "split == 'fit'"``) are parsed with ``ast`` and evaluated
over whole columns (names with spaces in backticks); only arithmetic, comparisons, boolean operators, column
names, literals and the functions log, log10, exp, sqrt and abs are allowed. Arithmetic is in floating point;
constants are bounded by ``MAX_CONSTANT`` and exponents by ``MAX_EXPONENT`` (so no expression can run for long),
and comparing text with numbers is refused.
"""

from __future__ import annotations

import ast
import csv
import io
import operator
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.errors import DataError, SpecError

FUNCTIONS = {"log": np.log, "log10": np.log10, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}
BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
          ast.Pow: operator.pow}
COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Gt: operator.gt, ast.GtE: operator.ge}
MAX_CONSTANT = 1e300  # largest magnitude of a number written in an expression
MAX_EXPONENT = 1e3  # largest magnitude of the right operand of **
MAX_LENGTH = 1000  # longest expression in characters: at most a few hundred whole-column operations
MAX_SECONDS = 10.0  # an expression still evaluating after this long is refused


FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "jsonl", ".ndjson": "jsonl"}  # file suffix -> reader; anything else is read as text


def read_table(data: Any, *, format: str | None = None, history: str | None = None) -> dict[str, np.ndarray]:
    """Columns of measurements from any source researchers have, as float arrays (NaN for a blank or null cell)
    where every value is a number, else arrays of text.

    ``data`` is a pandas DataFrame, a mapping of column name to values, or a path: CSV, TSV (by suffix, or tabs
    and no commas in the header), Parquet (what ``scalinglab export`` writes), JSON lines, a W&B CSV export or
    a local MLflow tracking folder (``fit.sources``). ``format`` (one of ``FORMATS``' values, ``wandb`` or
    ``mlflow``) overrides the guess from the suffix. ``history``: of an MLflow folder, read every logged step of
    this metric (columns ``run``, ``step``, the metric and the run's parameters) instead of its last value.
    """
    if isinstance(data, (str, Path)):
        path = Path(data)
        if format == "mlflow" or (format is None and path.is_dir()):
            from scalinglab.fit.sources import mlflow_history, read_mlflow

            return read_mlflow(path) if history is None else mlflow_history(path, history)
        kind = format or FORMATS.get(path.suffix.lower(), "text")
        if kind not in (*FORMATS.values(), "text", "wandb"):
            raise SpecError(f"format: must be one of {', '.join(sorted({*FORMATS.values(), 'wandb', 'mlflow'}))}, "
                            f"got {format!r}")
        if not path.exists():
            raise DataError(f"{path}: no such file")
        if kind == "parquet":
            return _read_parquet(path)
        if kind == "jsonl":
            return _read_jsonl(path)
        columns = read_csv(path, delimiter="\t" if kind == "tsv" else None)
        from scalinglab.fit.sources import from_wandb, is_wandb

        return from_wandb(columns, path) if kind == "wandb" or is_wandb(columns) else columns
    if hasattr(data, "columns") and hasattr(data, "__getitem__") and not isinstance(data, dict):  # a DataFrame
        return _from_mapping({str(c): data[c].to_numpy() for c in data.columns}, "DataFrame")
    if isinstance(data, Mapping):
        return _from_mapping({str(k): v for k, v in data.items()}, "data")
    raise DataError(f"data: expected a path, a pandas DataFrame or a dict of arrays, got {type(data).__name__}")


def read_csv(path: str | Path, delimiter: str | None = None) -> dict[str, np.ndarray]:
    """Columns of a delimited text file: float arrays where every value parses as a number, else string arrays.

    The delimiter is ``delimiter``, or a tab when the header has tabs and no commas, else a comma."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the first name
        first = text.split("\n", 1)[0]
        if delimiter is None:
            delimiter = "\t" if "\t" in first and "," not in first else ","
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = next(reader, None)
        rows = list(reader)
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None
    except (csv.Error, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV file ({err})") from None
    if not header:
        raise DataError(f"{path}: empty file, no header row")
    header = [h.strip() for h in header]
    _check_names(header, path)
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise DataError(f"{path}: row {i + 2} has {len(row)} fields, the header has {len(header)}")
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        if name:
            columns[name] = to_column([row[j].strip() for row in rows])
    return columns


def _check_names(header: list[str], path: Path | str) -> None:
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise DataError(f"{path}: column {name!r} appears more than once in the header")
        seen.add(name)


def to_column(values: Sequence[Any]) -> np.ndarray:
    """One column: floats (NaN for a blank, None or null) when every value is a number, else text."""
    out = np.empty(len(values), dtype=float)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, str) and v.strip() == ""):
            out[i] = np.nan
            continue
        if isinstance(v, (bool, np.bool_)):
            break
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            break
    else:
        return out
    return np.array(["" if v is None else str(v) for v in values], dtype=object)


def _from_mapping(data: dict[str, Any], what: str) -> dict[str, np.ndarray]:
    columns: dict[str, np.ndarray] = {}
    for name, values in data.items():
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise DataError(f"{what}: column {name!r} is not one-dimensional (shape {arr.shape})")
        columns[name] = arr.astype(float) if arr.dtype.kind in "iuf" else to_column(list(arr))
    lengths = {name: len(col) for name, col in columns.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"{what}: columns of different lengths ({', '.join(f'{k} {v}' for k, v in lengths.items())})")
    if not columns:
        raise DataError(f"{what}: no columns")
    return columns


def _read_parquet(path: Path) -> dict[str, np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"{path}: not a readable Parquet file ({str(err).splitlines()[0]})") from None
    _check_names(table.column_names, path)
    return {name: to_column(table.column(name).to_pylist()) for name in table.column_names}


def _read_jsonl(path: Path) -> dict[str, np.ndarray]:
    """JSON lines: one object per line; a key missing from a line is a blank cell."""
    import json

    records = []
    try:
        with path.open(encoding="utf-8-sig") as fh:
            for i, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}: line {i} is not JSON ({err.msg})") from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}: line {i} is not a JSON object")
                records.append(record)
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not a readable JSON lines file ({err})") from None
    if not records:
        raise DataError(f"{path}: no records")
    names = list(dict.fromkeys(k for r in records for k in r))
    return {name: to_column([r.get(name) for r in records]) for name in names}


def evaluate(expr: str, columns: dict[str, np.ndarray], what: str, used: set[str] | None = None) -> np.ndarray:
    """Evaluate an expression over columns; SpecError (DataError for text compared with numbers) whose parameter
    is ``what`` ("where", "define N"), naming the problem. ``used``, when given, receives the names of the columns
    the expression reads.

    A column whose name is not an identifier is written in backticks: ``Training FLOP`` as `Training FLOP`.
    """
    original = expr
    if len(expr) > MAX_LENGTH:
        raise SpecError(f"expression of {len(expr)} characters exceeds the limit of {MAX_LENGTH}", param=what)
    quoted = re.findall(r"`([^`]+)`", expr)
    aliases: dict[str, str] = {}
    if quoted:
        columns = dict(columns)
        for i, name in enumerate(dict.fromkeys(quoted)):
            if name not in columns:
                raise SpecError(f"unknown column {name!r} (columns: {', '.join(columns)})", param=what)
            columns[f"_quoted_{i}"] = columns[name]
            aliases[f"_quoted_{i}"] = name
            expr = expr.replace(f"`{name}`", f"_quoted_{i}")
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: a NUL byte; the others: nesting
        raise SpecError(f"cannot parse {original!r}", param=what) from None
    expr = original  # messages quote the expression as the user wrote it
    deadline = time.monotonic() + MAX_SECONDS

    def ev(node: ast.AST):
        if time.monotonic() > deadline:
            raise DataError(f"{expr!r} still evaluating after {MAX_SECONDS:g} s; refused", param=what)
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
            if not isinstance(node.value, (str, bool)) and not abs(node.value) <= MAX_CONSTANT:
                raise DataError(f"constant {_short(node.value)} in {expr!r} exceeds the limit of "
                                f"{MAX_CONSTANT:g} in magnitude", param=what)
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in columns:
                raise SpecError(f"unknown column {node.id!r} (columns: {', '.join(columns)})", param=what)
            if used is not None:
                used.add(aliases.get(node.id, node.id))
            return columns[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            left, right = _num(ev(node.left)), _num(ev(node.right))
            if isinstance(node.op, ast.Pow):
                size = np.abs(np.asarray(right, dtype=float))
                if np.any(size > MAX_EXPONENT):  # checked before the power is taken
                    raise DataError(f"exponent {float(np.nanmax(size)):g} in {expr!r} exceeds the limit of "
                                    f"{MAX_EXPONENT:g} in magnitude", param=what)
            return BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -_num(ev(node.operand))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return np.logical_not(ev(node.operand))
        if isinstance(node, ast.BoolOp):
            op = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = ev(node.values[0])
            for v in node.values[1:]:
                out = op(out, ev(v))
            return out
        if isinstance(node, ast.Compare):
            left, left_node, out = ev(node.left), node.left, True
            for op, right_node in zip(node.ops, node.comparators, strict=False):
                if type(op) not in COMPARE:
                    raise SpecError(f"operator not allowed in {expr!r}", param=what)
                right = ev(right_node)
                if _is_text(left) != _is_text(right):
                    text, number = (left_node, right_node) if _is_text(left) else (right_node, left_node)
                    raise DataError(f"{_describe(text)} is text and {_describe(number)} a number; "
                                    f"cannot compare them in {expr!r}", param=what)
                out = np.logical_and(out, COMPARE[type(op)](left, right))
                left, left_node = right, right_node
            return out
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
                and len(node.args) == 1 and not node.keywords):
            return FUNCTIONS[node.func.id](_num(ev(node.args[0])))
        raise SpecError(f"{type(node).__name__} not allowed in {expr!r}", param=what)

    def _num(v):
        if isinstance(v, np.ndarray) and v.dtype == object:
            raise SpecError(f"arithmetic on a text column in {expr!r}", param=what)
        if isinstance(v, str):
            raise SpecError(f"arithmetic on text in {expr!r}", param=what)
        if isinstance(v, (bool, int, float)):
            return np.float64(v)  # floating point: 1/0 is inf, (-1)**0.5 nan, never an exception or a huge int
        return v

    def _describe(node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            return f"column {aliases.get(node.id, node.id)!r}"
        if isinstance(node, ast.Constant):
            return repr(node.value)
        return repr(ast.unparse(node))

    with np.errstate(all="ignore"):
        try:
            return ev(tree)
        except RecursionError:
            raise SpecError(f"{expr[:40]!r}... nests too deeply", param=what) from None


def prepare(columns: dict[str, np.ndarray], *, y: str, x: list[str], define: list[str] = (),
            where: list[str] = (), drop_highest: int = 0, group: str | None = None,
            path: str = "data", strict: bool = True, warnings: list[str] | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Sizes X (n, len(x)), losses y, optional group labels, and the original row numbers (1-based data rows).

    Applies ``define`` (NAME=EXPR), then ``where`` filters, then drops the ``drop_highest`` largest losses.
    Raises DataError naming the row and column of a non-numeric or non-positive value, and (``strict``) of a
    blank or non-finite one; without ``strict`` rows with a blank or non-finite cell in ``y``, ``x`` or ``group``
    (a crashed run, a metric never logged) are dropped, and ``warnings`` (when given) is told how many.
    """
    columns = dict(columns)
    n = len(next(iter(columns.values()))) if columns else 0
    for item in define:
        name, sep, expr = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise SpecError(f"expected NAME=EXPRESSION, got {item!r}", param="define")
        columns[name] = _define(name, expr.strip(), columns, n)
    keep = np.ones(n, dtype=bool)
    for expr in where:
        mask = evaluate(expr, columns, "where")
        if np.asarray(mask).dtype != bool:
            raise SpecError(f"{expr!r} is not a condition", param="where")
        keep &= np.broadcast_to(mask, (n,))
    rows = np.flatnonzero(keep) + 2  # line numbers in the file (header is line 1)
    for name in [y, *x] + ([group] if group else []):
        if name not in columns:
            raise DataError(f"{path}: no column {name!r} (columns: {', '.join(columns)})")
    for name in [y, *x]:
        col = columns[name]
        if col.dtype == object:
            bad = next(i for i, v in enumerate(col) if _not_number(v))
            raise DataError(f"{path}: column {name!r} row {bad + 2}: {col[bad]!r} is not a number")
    if not strict:
        blank = np.zeros(n, dtype=bool)
        for name in [y, *x] + ([group] if group else []):
            col = columns[name]
            blank |= (col == "") if col.dtype == object else ~np.isfinite(col)
        dropped = np.flatnonzero(keep & blank)
        if dropped.size:
            if warnings is not None:
                names = ", ".join(dict.fromkeys([y, *x] + ([group] if group else [])))
                warnings.append(f"{dropped.size} row(s) with a blank or non-finite cell in {names} dropped "
                                f"(first: row {dropped[0] + 2}); strict mode refuses them")
            keep &= ~blank
            rows = np.flatnonzero(keep) + 2
    Y = columns[y][keep]
    X = np.column_stack([columns[c][keep] for c in x]) if x else np.empty((keep.sum(), 0))
    for j, name in enumerate([y, *x]):
        col = Y if j == 0 else X[:, j - 1]
        bad = np.flatnonzero(~np.isfinite(col))
        if bad.size:
            raise DataError(f"{path}: column {name!r} row {rows[bad[0]]}: value is missing or not finite")
        bad = np.flatnonzero(col <= 0)
        if bad.size:
            raise DataError(f"{path}: column {name!r} row {rows[bad[0]]}: {col[bad[0]]:g} is not positive")
    if drop_highest < 0:
        raise SpecError(f"must be non-negative, got {drop_highest}", param="drop_highest")
    if drop_highest:
        order = np.argsort(Y, kind="stable")[: max(len(Y) - drop_highest, 0)]
        order.sort()
        X, Y, rows = X[order], Y[order], rows[order]
    if len(Y) == 0:
        raise DataError(f"{path}: no rows left to fit")
    for j, name in enumerate(x):
        if np.unique(X[:, j]).size < 2:
            raise DataError(f"{path}: column {name!r} has a single distinct value; no scaling law can be fitted")
    groups = columns[group][keep] if group else None
    if group and drop_highest:
        groups = columns[group][keep][order]
    return X, Y, groups, rows


def _define(name: str, expr: str, columns: dict[str, np.ndarray], n: int) -> np.ndarray:
    """The column NAME=EXPR: DataError naming the definition if it gives text, or a non-finite value at a row
    whose inputs are finite (a missing input stays missing, to be filtered by --where or reported by prepare)."""
    what = f"define {name}"
    used: set[str] = set()
    value = evaluate(expr, columns, what, used)
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.dtype == object):
        raise DataError(f"{expr!r} gives text, not numbers", param=what)
    value = np.asarray(value)
    if value.dtype.kind not in "biuf":
        raise DataError(f"{expr!r} gives {value.dtype} values, not real numbers", param=what)
    value = np.broadcast_to(value.astype(float), (n,)).copy()
    inputs_finite = np.ones(n, dtype=bool)
    for col in used:
        if columns[col].dtype != object:
            inputs_finite &= np.isfinite(columns[col])
    bad = np.flatnonzero(inputs_finite & ~np.isfinite(value))
    if bad.size:
        raise DataError(f"{expr!r} is {value[bad[0]]:g} (not finite) at row {bad[0] + 2}", param=what)
    return value


def _is_text(v) -> bool:
    return isinstance(v, str) or (isinstance(v, np.ndarray) and v.dtype == object)


def _short(v: float) -> str:
    """A number for a message: a huge int literal is not printed in full."""
    if isinstance(v, int) and abs(v) > 10 ** 20:
        return f"of {len(str(abs(v)))} digits"
    return f"{v:g}"


def _not_number(v: str) -> bool:
    try:
        float(v)
        return False
    except ValueError:
        return True
