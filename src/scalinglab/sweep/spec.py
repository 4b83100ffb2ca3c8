"""Sweep specs: TOML validated by pydantic. Unknown keys and bad values raise SpecError naming the key."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scalinglab.errors import SpecError
from scalinglab.sweep.resources import INPUT_DIMS, check_resources, memory_estimate  # noqa: F401  (re-exported)
from scalinglab.tasks.real import DATASETS, DEFAULT_STANDARDISE, STANDARDISE


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    """A log-spaced grid of integer sizes from ``min`` to ``max`` with ``num`` points (duplicates dropped)."""

    min: int = Field(gt=0)
    max: int = Field(gt=0)
    num: int = Field(default=8, ge=1, le=200)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    def values(self) -> list[int]:
        """The grid: log-spaced, rounded to integers, sorted and unique."""
        if self.num == 1 or self.min == self.max:
            return [self.max]
        return sorted({int(round(v)) for v in np.geomspace(self.min, self.max, self.num)})


class TeacherStudentSpec(_Strict):
    kind: Literal["teacher_student"]
    features: int = Field(default=4096, gt=0)
    spectrum_exponent: float = Field(default=0.5, gt=0, allow_inf_nan=False)
    noise: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    average_teacher: bool = True
    teacher_seed: int = Field(default=0, ge=0)

    def build(self):
        from scalinglab.tasks.teacher_student import TeacherStudent

        return TeacherStudent(**self.model_dump(exclude={"kind"}))


class RandomFeaturesSpec(_Strict):
    """Least squares on P random projections of the teacher-student features (exact population losses)."""

    TASKS: ClassVar[tuple[str, ...]] = ("teacher_student",)
    kind: Literal["random_features"]
    ridge: float = Field(default=1e-8, ge=0, allow_inf_nan=False)

    def build(self):
        from scalinglab.models.random_features import RandomFeatures

        return RandomFeatures(**self.model_dump(exclude={"kind"}))


class ManifoldSpec(_Strict):
    """A smooth random target on a d-dimensional torus, sphere or cube rotated into R^ambient_dim."""

    kind: Literal["manifold"]
    manifold: Literal["torus", "sphere", "cube"] = "torus"
    intrinsic_dim: int = Field(default=3, ge=1, le=64)
    ambient_dim: int = Field(default=16, ge=1)
    smoothness: float = Field(default=1.5, gt=0)
    length_scale: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    n_fourier: int = Field(default=4096, ge=1)
    noise: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    target: Literal["matern", "student_kernel"] = "matern"
    target_seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _fits_in_ambient(self) -> ManifoldSpec:
        need = {"torus": 2 * self.intrinsic_dim, "sphere": self.intrinsic_dim + 1, "cube": self.intrinsic_dim}
        if self.ambient_dim < need[self.manifold]:
            raise ValueError(f"ambient_dim: a {self.intrinsic_dim}-dimensional {self.manifold} needs at least "
                             f"{need[self.manifold]} ambient dimensions, got {self.ambient_dim}")
        return self

    def build(self):
        from scalinglab.tasks.manifold import ManifoldTask

        return ManifoldTask(**self.model_dump(exclude={"kind"}))


class KernelRidgeSpec(_Strict):
    """Kernel ridge regression with the NNGP/NTK of a fully connected network, or its random features."""

    TASKS: ClassVar[tuple[str, ...]] = ("manifold", "hypercube", "real", "percolation")
    kind: Literal["kernel_ridge"]
    depth: int = Field(default=2, ge=1, le=64)
    activation: Literal["relu", "erf"] = "relu"
    weight_var: float = Field(default=2.0, gt=0, allow_inf_nan=False)
    bias_var: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    kernel: Literal["nngp", "ntk"] = "nngp"
    features: Literal["exact", "random"] = "exact"
    ridge: float = Field(default=1e-8, ge=0, allow_inf_nan=False)
    n_test: int = Field(default=2000, ge=1)

    def build(self):
        from scalinglab.models.kernel_ridge import KernelRidge

        return KernelRidge(**self.model_dump(exclude={"kind"}))


class HypercubeSpec(_Strict):
    """A deep random teacher on inputs uniform in [-1, 1]^dim (Bahri et al. 2024, Fig. 1b)."""

    kind: Literal["hypercube"]
    dim: int = Field(default=4, ge=1, le=64)
    width: int = Field(default=96, ge=1)
    depth: int = Field(default=2, ge=1, le=16)
    weight_variance: float = Field(default=2.0, gt=0, allow_inf_nan=False)
    bias_variance: float = Field(default=0.2, ge=0, allow_inf_nan=False)
    activation: Literal["relu", "tanh"] = "relu"
    teacher_seed: int = Field(default=0, ge=0)

    def build(self):
        from scalinglab.tasks.hypercube import HypercubeTeacher

        return HypercubeTeacher(**self.model_dump(exclude={"kind"}))


REAL_SIZES = {"digits": 1797, "mnist1d": 5000}  # examples of the bundled data sets (mnist1d: more with ``n``)


class RealSpec(_Strict):
    """A real data set (``tasks.real.load_dataset``): inputs and centred one-hot targets, train and test rows
    drawn without replacement. ``path`` is needed for "idx", "cifar10" and "file" ("fashion-mnist" reads the
    Debian package's folder unless given one)."""

    kind: Literal["real"]
    dataset: Literal[DATASETS] = "digits"
    path: str | None = None
    n: int | None = Field(default=None, gt=0)
    standardise: Literal[STANDARDISE] = DEFAULT_STANDARDISE

    @model_validator(mode="after")
    def _path_given(self) -> RealSpec:
        if self.dataset in ("idx", "cifar10", "file") and not self.path:
            raise ValueError(f"path: required for dataset {self.dataset!r}")
        if self.dataset == "digits" and self.n is not None and self.n > REAL_SIZES["digits"]:
            raise ValueError(f"n: {self.n} is more than the {REAL_SIZES['digits']} examples of 'digits'")
        return self

    def examples(self) -> int | None:
        """How many examples the task holds, where known without loading it (mnist1d generates ``n``)."""
        if self.dataset not in REAL_SIZES:
            return self.n
        return self.n or REAL_SIZES[self.dataset]

    def check_inputs(self) -> None:
        """Refuse (SpecError) a ``path`` that does not exist, before a run writes anything."""
        if self.path is not None and not Path(self.path).exists():
            raise SpecError(f"task.path: no such file or folder: {self.path}")

    def build(self):
        from scalinglab.tasks.real import RealTask, load_dataset

        data = load_dataset(self.dataset, path=self.path, n=self.n, standardise=self.standardise)
        return RealTask(data, name=self.dataset)


class MLPSpec(_Strict):
    """Fully connected networks trained by ``models.mlp`` (size knob: hidden width); every (D, width) of
    ``seeds_per_job`` consecutive seeds is trained in a few batched runs of one job."""

    TASKS: ClassVar[tuple[str, ...]] = ("teacher_student", "manifold", "hypercube", "real", "quanta", "percolation")
    kind: Literal["mlp"]
    depth: int = Field(default=2, ge=1, le=64)
    activation: Literal["relu", "erf", "tanh"] = "relu"
    weight_variance: float = Field(default=2.0, gt=0, allow_inf_nan=False)
    bias_variance: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    parameterization: Literal["ntk", "standard"] = "ntk"
    optimizer: Literal["gd", "sgd", "adam"] = "gd"
    learning_rate: float = Field(default=0.5, gt=0, allow_inf_nan=False)
    max_steps: int = Field(default=2000, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    schedule: Literal["constant", "cosine"] = "constant"
    loss: Literal["mse", "cross_entropy"] = "mse"
    tol: float = Field(default=1e-4, ge=0, allow_inf_nan=False)
    patience: int = Field(default=200, ge=1)
    eval_every: int = Field(default=25, ge=1)
    ensemble: int = Field(default=1, ge=1, le=1024)
    linearized: bool = False
    n_test: int = Field(default=2000, ge=1)
    pad_ratio: float = Field(default=2.0, ge=1, allow_inf_nan=False)
    dtype: Literal["float32", "float64"] = "float32"
    seeds_per_job: int = Field(default=4, ge=1, le=256)

    @model_validator(mode="after")
    def _full_batch_linearization(self) -> MLPSpec:
        if self.linearized and self.batch_size is not None and self.optimizer != "gd":
            raise ValueError("linearized: the linearised network trains full-batch only (no batch_size)")
        return self

    def build(self):
        from scalinglab.models.mlp import MLP

        return MLP(**self.model_dump(exclude={"kind", "seeds_per_job"}))


class PercolationSpec(_Strict):
    """Critical Bethe-lattice clusters as one data set (Brill 2024): ``n_clusters`` clusters with
    ``min_size <= s <= max_size`` grown as Galton-Watson trees at p_c = 1/(z - 1), fixed by ``cluster_seed``.

    The lattice itself gives the mean-field cluster-size exponent tau = 5/2; another ``tau`` in (2, 3) keeps each
    grown cluster with probability proportional to s^(5/2 - tau), which turns the cluster numbers n_s ~ s^-5/2
    into s^-tau and leaves every cluster's shape (fractal dimension 4) as it is. ``n_clusters`` defaults to the
    paper's int((max_size / min_size)^(tau - 2)). ``embedding`` > 0 places the sites in R^embedding by a
    branching random walk (``tasks.percolation.embed``), the input of Euclidean models; 0 keeps the graph."""

    kind: Literal["percolation"]
    tau: float = Field(default=2.5, gt=2, lt=3, allow_inf_nan=False)
    z: int = Field(default=200, ge=3, le=100_000)
    min_size: int = Field(default=30, ge=1)
    max_size: int = Field(default=30_000, ge=1, le=10**8)
    n_clusters: int | None = Field(default=None, ge=1, le=100_000)
    embedding: int = Field(default=0, ge=0, le=1024)
    cluster_seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _sizes(self) -> PercolationSpec:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size: {self.min_size} is greater than max_size ({self.max_size})")
        return self

    def clusters(self) -> int:
        """The number of clusters kept (``n_clusters``, or the paper's rule)."""
        from scalinglab.tasks.percolation.bethe_task import default_clusters

        return self.n_clusters or default_clusters(self.min_size, self.max_size, self.tau)

    def build(self):
        from scalinglab.tasks.percolation.bethe_task import bethe_task

        return bethe_task(tau=self.tau, z=self.z, min_size=self.min_size, max_size=self.max_size,
                          n_clusters=self.clusters(), embedding=self.embedding, cluster_seed=self.cluster_seed)


class QuantaSpec(_Strict):
    """Multitask sparse parity (Michaud et al. 2023): ``n_tasks`` subtasks (quanta) of ``k``-bit parities on
    ``n_bits`` task bits, subtask i drawn with frequency ~ i^-zipf_exponent."""

    kind: Literal["quanta"]
    n_tasks: int = Field(default=50, ge=1, le=4096)
    n_bits: int = Field(default=16, ge=1, le=62)
    k: int = Field(default=3, ge=1)
    zipf_exponent: float = Field(default=2.0, gt=1, allow_inf_nan=False)
    test_per_task: int = Field(default=2000, ge=1)
    task_seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _parities(self) -> QuantaSpec:
        import math

        if self.k > self.n_bits:
            raise ValueError(f"k: must be at most n_bits = {self.n_bits}, got {self.k}")
        if math.comb(self.n_bits, self.k) < self.n_tasks:
            raise ValueError(f"n_tasks: {self.n_tasks} subtasks need distinct relevant-bit sets, but only "
                             f"C({self.n_bits}, {self.k}) = {math.comb(self.n_bits, self.k)} exist")
        return self

    def build(self):
        from scalinglab.tasks.quanta import MultitaskSparseParity

        return MultitaskSparseParity(n_tasks=self.n_tasks, n_bits=self.n_bits, k=self.k,
                                     zipf_exponent=self.zipf_exponent, seed=self.task_seed,
                                     test_per_task=self.test_per_task)


class GraphKNNSpec(_Strict):
    """Brill's graph nearest-neighbour regressor with shrinkage y_nn / (1 + r / sqrt(s)) (``models.knn.GraphKNN``).
    Size knob: N degrees of freedom (DOF), allocated over clusters by the optimal rule n_k(N); data: D i.i.d.
    samples, D s_k / sum(s) DOF for cluster k; a cluster uses the smaller of the two, times its conversion factor
    sigma_k (training examples per DOF): ``conversion = "fitted"`` measures sigma_k per cluster (the paper's
    Step 1, over ``fractions`` training fractions), a number uses that sigma for every cluster. ``p_test``: the
    paper's test draw (round(p_test s) test sites per cluster); none: every site not used for training."""

    TASKS: ClassVar[tuple[str, ...]] = ("percolation",)
    kind: Literal["graph_knn"]
    shrinkage: bool = True
    conversion: Union[Literal["fitted"], Annotated[float, Field(ge=1, allow_inf_nan=False)]] = "fitted"
    fractions: int = Field(default=30, ge=3, le=200)
    p_test: float | None = Field(default=None, gt=0, lt=1, allow_inf_nan=False)

    def build(self):
        from scalinglab.models.knn import GraphKNN

        return GraphKNN(**self.model_dump(exclude={"kind"}))


TaskSpec = Annotated[Union[TeacherStudentSpec, ManifoldSpec, HypercubeSpec, RealSpec, PercolationSpec, QuantaSpec],
                     Field(discriminator="kind")]
ModelSpec = Annotated[Union[RandomFeaturesSpec, KernelRidgeSpec, MLPSpec, GraphKNNSpec], Field(discriminator="kind")]


def _kinds(union: Any) -> dict[str, type[_Strict]]:
    members = get_args(get_args(union)[0])
    return {get_args(m.model_fields["kind"].annotation)[0]: m for m in members}


TASK_KINDS: dict[str, type[_Strict]] = _kinds(TaskSpec)  # the registry: kind -> spec table
MODEL_KINDS: dict[str, type[_Strict]] = _kinds(ModelSpec)


class Grid(_Strict):
    data: Range
    size: Range


class Spec(_Strict):
    """A whole sweep: task, model, grid of (data size, model size) and the number of seeds."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    seeds: int = Field(default=4, ge=1, le=10_000)
    task: TaskSpec
    model: ModelSpec
    grid: Grid

    @model_validator(mode="after")
    def _features_cover_grid(self) -> Spec:
        largest = max(self.grid.data.max, self.grid.size.max)
        features = getattr(self.task, "features", None)
        if features is not None and features < largest and self.model.kind != "mlp":
            raise ValueError(f"task.features: {features} is less than the largest grid size ({largest})")
        allowed = type(self.model).TASKS
        if self.task.kind not in allowed:
            raise ValueError(f"model.kind: {self.model.kind} needs task.kind {' or '.join(allowed)}, "
                             f"got {self.task.kind!r}")
        if self.task.kind == "percolation" and self.model.kind != "graph_knn" and not self.task.embedding:
            raise ValueError(f"task.embedding: model.kind {self.model.kind} needs the clusters embedded in R^m "
                             "(embedding = m > 0); only graph_knn learns on the graph itself")
        examples = self.task.examples() if isinstance(self.task, RealSpec) else None
        n_test = getattr(self.model, "n_test", 0)
        if examples is not None and self.grid.data.max + n_test > examples:
            raise ValueError(f"grid.data.max: {self.grid.data.max} training + {n_test} test examples asked of "
                             f"{self.task.dataset!r}, which has {examples}")
        return self

    def fingerprint(self) -> str:
        """Hash of what determines the measurements (everything but the name, the number of seeds and how many
        seeds one job computes together)."""
        payload = self.model_dump(mode="json", exclude={"name": True, "seeds": True, "model": {"seeds_per_job"}})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def to_toml(self) -> str:
        return dump_toml(self.model_dump(mode="json"))


def _format_loc(loc: tuple[Any, ...]) -> str:
    tags = set(TASK_KINDS) | set(MODEL_KINDS)
    parts = [str(p) for i, p in enumerate(loc) if not (i == 1 and isinstance(p, str) and p in tags)]
    return ".".join(parts) or "spec"


def _error_message(err: ValidationError) -> str:
    first = err.errors()[0]
    where = _format_loc(first["loc"])
    kind, msg = first["type"], first["msg"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key"
    if kind == "union_tag_invalid":
        tag = first.get("ctx", {}).get("tag")
        allowed = first.get("ctx", {}).get("expected_tags")
        return f"{where}.kind: unknown kind {tag!r} (expected {allowed})"
    if kind == "union_tag_not_found":
        return f"{where}.kind: missing required key"
    if kind == "missing":
        return f"{where}: missing required key"
    msg = msg.removeprefix("Value error, ")
    if where == "spec":
        return msg
    key = re.match(r"^[a-z_]+(?=: )", msg)  # a table's validator naming one of its keys
    return f"{where}.{msg}" if key else f"{where}: {msg}"


MAX_DEPTH = 8  # deepest nesting of tables and arrays a spec may have (its own deepest is grid.data.min: 3)


def _check_depth(data: Any) -> None:
    """SpecError naming the key path if ``data`` nests deeper than ``MAX_DEPTH`` (checked without recursion, so a
    hostile spec cannot exhaust the stack)."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            shown = ".".join(path[:MAX_DEPTH + 1])
            raise SpecError(f"{shown}: nested deeper than {MAX_DEPTH} levels")
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        stack.extend((v, (*path, str(k))) for k, v in items)


def parse_spec(data: dict[str, Any]) -> Spec:
    """Validate a spec given as a dict; raise SpecError with a one-line message naming the key."""
    if not isinstance(data, dict):
        raise SpecError(f"spec: must be a table of keys, got {type(data).__name__}")
    _check_depth(data)
    try:
        return Spec.model_validate(data)
    except ValidationError as err:
        raise SpecError(_error_message(err)) from None


def load_spec(path: str | Path) -> Spec:
    """Read and validate a TOML spec file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(f"{path}: cannot read spec ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise SpecError(f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: not valid TOML ({err})") from None
    except RecursionError:  # the TOML reader recurses once per nested array or inline table
        raise SpecError(f"{path}: not a spec (arrays or tables nested deeper than {MAX_DEPTH} levels)") from None
    return parse_spec(data)


def dump_toml(data: dict[str, Any]) -> str:
    """Write a spec dict as TOML (top-level scalars first, then tables; inline tables for ranges)."""

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {scalar(x)}" for k, x in v.items()) + "}"
        return repr(v)

    lines = [f"{k} = {scalar(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {scalar(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


DEMO_SPEC: dict[str, Any] = {
    "name": "four-regimes",
    "seeds": 8,
    "task": {"kind": "teacher_student", "features": 8192, "spectrum_exponent": 0.5},
    "model": {"kind": "random_features", "ridge": 1e-8},
    "grid": {"data": {"min": 16, "max": 1024, "num": 13}, "size": {"min": 16, "max": 1024, "num": 13}},
}


def demo_spec() -> Spec:
    return parse_spec(DEMO_SPEC)
