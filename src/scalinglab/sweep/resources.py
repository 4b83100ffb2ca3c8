"""Resource estimates of a spec, checked before anything runs: the largest working set of one job, against the
memory limit, and a real data set's file present."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from scalinglab.errors import SpecError

if TYPE_CHECKING:
    from scalinglab.sweep.spec import Spec

# features of the bundled formats
INPUT_DIMS = {"digits": 64, "mnist1d": 40, "idx": 784, "fashion-mnist": 784, "cifar10": 3072}


def input_dim(task: Any) -> float:
    """Features of one input of the task (0 where unknown before loading, as for a user's file)."""
    kind = task.kind
    if kind == "teacher_student":
        return float(task.features)
    if kind == "manifold":
        return float(task.ambient_dim)
    if kind == "hypercube":
        return float(task.dim)
    if kind == "real":
        return float(INPUT_DIMS.get(task.dataset, 0))
    if kind == "quanta":
        return float(task.n_tasks + task.n_bits)
    if kind == "percolation":
        return float(max(task.embedding, 1))
    return 0.0


def percolation_sites(task: Any) -> float:
    """Expected sites of a percolation task: n_clusters times the mean of P(s) ~ s^(1 - tau) on [min, max]."""
    s = np.geomspace(task.min_size, task.max_size, 400)
    p = s ** (1.0 - task.tau) * s  # density per log s
    return float(task.clusters() * np.sum(p * s) / np.sum(p))


def memory_estimate(spec: Spec) -> tuple[float, str, str]:
    """(bytes, key, what) of the largest working set one job of ``spec`` needs: the data of the largest point
    and the model's largest arrays (an estimate within a small factor, to refuse what cannot fit before anything
    runs). ``key`` names the spec key that drives it."""
    t, m = spec.task, spec.model
    d, p = spec.grid.data.max, spec.grid.size.max
    dim = input_dim(t)
    n_test = float(getattr(m, "n_test", 0))
    rows = d + n_test
    parts: list[tuple[float, str, str]] = [(8.0 * rows * dim, "grid.data.max", f"{rows:.0f} inputs of {dim:.0f} "
                                            "features")]
    if t.kind == "percolation":
        sites = percolation_sites(t)
        parts.append((sites * (64.0 + 8.0 * t.embedding + 96.0), "task.max_size", f"about {sites:.3g} sites"))
    if m.kind == "random_features":
        parts.append((8.0 * t.features * (d + p) * 3 + 8.0 * min(d, p) ** 2, "grid.data.max",
                      f"{t.features} features of {d} samples and {p} projections"))
    elif m.kind == "kernel_ridge":
        if m.features == "exact":
            parts.append((8.0 * (2.0 * d * d + n_test * d), "grid.data.max", f"a {d} x {d} Gram matrix"))
        else:
            parts.append((8.0 * (2.0 * rows * p + min(d, p) ** 2), "grid.size.max",
                          f"{p} random features of {rows:.0f} inputs"))
    elif m.kind == "mlp":
        nets = len(spec.grid.data.values()) * len(spec.grid.size.values()) * m.ensemble * m.seeds_per_job
        params = dim * p + (m.depth - 1) * p * p + 10.0 * p
        width = 8.0 if m.dtype == "float64" else 4.0
        parts.append((width * nets * (4.0 * params + rows * p * m.depth), "grid.size.max",
                      f"{nets} networks of width {p}"))
    return max(parts, key=lambda part: part[0])


def check_resources(spec: Spec, limit_bytes: float | None = None) -> None:
    """Refuse (SpecError naming the key) a spec whose inputs are missing (a real data set's ``path``) or whose
    largest point needs more memory than ``limit_bytes`` (default: 80% of this machine's), before anything runs
    or is written."""
    from scalinglab.tasks.percolation.lattice import memory_bytes

    getattr(spec.task, "check_inputs", lambda: None)()
    limit = 0.8 * memory_bytes() if limit_bytes is None else float(limit_bytes)
    need, key, what = memory_estimate(spec)
    if need > limit:
        raise SpecError(f"{key}: the largest point needs about {need / 2**30:.3g} GiB ({what}), more than the "
                        f"{limit / 2**30:.3g} GiB allowed (the memory limit)")
