"""Percolation throughput (Brill 2024): cluster sites generated per second and nearest-neighbour predictions per
second, against the obvious baselines, on one core.

1. generation  ``grow_bethe_clusters`` (trees grown a level at a time, many at once) on the quick configuration
               (z = 200, p = 1/199, 100 clusters of 100..1e6 sites), against a plain Python breadth-first growth
               of one tree at a time (a deque, one Binomial draw per site), run until it has grown as many sites
               as ``--baseline-sites``;
2. prediction  nearest training site in graph distance for every site of that forest (training fraction
               ``--fraction``), by our fused regressor (``ForestNearestNeighbour``: two sweeps and the shrunk
               prediction, in depth-major order with reused buffers), the two-sweep search alone and our
               level-synchronous multi-source BFS (both in site order, fresh arrays), against
               ``scipy.sparse.csgraph.dijkstra(min_only=True)`` (multi-source, C) and a networkx breadth-first
               search from each test site until it meets a training site (``--nx-sites`` test sites);
3. full seed   with ``--full-seed``: one seed of the paper's configuration (316 clusters of 300..3e7 sites),
               generation, 50 conversion fits, 50 model sizes and 50 data sizes;
4. data set    with ``--dataset`` (alone): a whole embedded data set, points per CPU second, interleaved
               (``--repeats`` of each in turn, medians): ours (critical Bethe clusters, z = 200, 30..30,000
               sites, grown until they hold ``--points`` sites, with their targets, then the branching random
               walk in R^``--dim``, float64 and float32) against aribrill/percolation-synthetic-data's
               ``PercolationDataset("distribution").construct_embed(size=--points, d=--dim)`` (points, latent
               tree, embedding and labels). Its code is cloned by ``git`` from ``--peer-source`` (GitHub by
               default; a local clone works too) into a scratch folder outside the repository and removed after.

All results agree (checked: identical distances). Run from the repository root:

    python benchmarks/bench_percolation.py [--fraction 0.001] [--nx-sites 200] [--full-seed] [--json OUT]
    python benchmarks/bench_percolation.py --dataset [--points 100000] [--dim 100] [--peer-source URL] [--json OUT]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
from _common import ForeignLoad, best_of, machine_info
from scipy.sparse.csgraph import dijkstra
from threadpoolctl import threadpool_limits

from scalinglab.models.knn import ForestNearestNeighbour, TreeLevels, forest_nearest_source, multi_source_bfs
from scalinglab.recipes import brill
from scalinglab.tasks.percolation import grow_bethe_clusters
from scalinglab.tasks.percolation.bethe import bethe_threshold
from scalinglab.tasks.percolation.bethe_task import concatenate
from scalinglab.tasks.percolation.embed import branching_random_walk

PEER = "https://github.com/aribrill/percolation-synthetic-data"


def python_growth(z: int, p: float, sites: int, seed: int) -> tuple[int, float]:
    """Plain breadth-first growth of one tree after another, one Binomial draw per site: (sites, seconds)."""
    rng = np.random.default_rng(seed)
    grown, t0 = 0, time.perf_counter()
    while grown < sites:
        queue = collections.deque([(0, z)])  # (site, neighbours that may be occupied)
        parent, size = [-1], 1
        while queue and size < 10**6:
            site, k = queue.popleft()
            for _ in range(rng.binomial(k, p)):
                parent.append(site)
                queue.append((size, z - 1))
                size += 1
        grown += size
    return grown, time.perf_counter() - t0


def networkx_nearest(adjacency, train_mask: np.ndarray, sites: np.ndarray) -> tuple[np.ndarray, float]:
    """Distance from each test site to its nearest training site by a networkx BFS per site (stops at the first)."""
    import networkx as nx

    graph = nx.from_scipy_sparse_array(adjacency)
    t0 = time.perf_counter()
    dist = np.full(sites.size, -1)
    for i, s in enumerate(sites):
        for layer, nodes in enumerate(nx.bfs_layers(graph, [int(s)])):
            if train_mask[nodes].any():
                dist[i] = layer
                break
    return dist, time.perf_counter() - t0


def our_dataset(points: int, dim: int, dtype, seed: int):
    """Critical Bethe clusters (z = 200, 30..30,000 sites, with their targets), grown in batches until they hold
    ``points`` sites, then embedded in R^dim: (forest, positions)."""
    rng = np.random.default_rng(seed)
    forests, have = [], 0
    while have < points:
        forests.append(grow_bethe_clusters(max(1, (points - have) // 1000), 200, bethe_threshold(200), 30, 30_000,
                                           rng))
        have += forests[-1].n_sites
    forest = concatenate(forests)
    return forest, branching_random_walk(forest, dim, rng, dtype=dtype)


def dataset_comparison(args) -> dict:
    """Section 4: points per CPU second of a whole data set, ours against the peer's, interleaved."""
    scratch = Path(tempfile.mkdtemp(prefix="percolation-peer-"))
    try:
        subprocess.run(["git", "clone", "--quiet", args.peer_source, str(scratch / "peer")], check=True)
        commit = subprocess.run(["git", "-C", str(scratch / "peer"), "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        sys.path.insert(0, str(scratch / "peer"))
        from percolation_dataset import PercolationDataset, Seeds

        def peer(seed: int):
            ds = PercolationDataset(mode="distribution", seeds=Seeds(graph=seed, embed=seed + 10000,
                                                                      value=seed + 20000))
            _, _, X, y = ds.construct_embed(size=args.points, d=args.dim)
            return y, X

        runs = {"ours float64": lambda s: our_dataset(args.points, args.dim, np.float64, s),
                "ours float32": lambda s: our_dataset(args.points, args.dim, np.float32, s),
                "percolation-synthetic-data": peer}
        rates: dict[str, list[float]] = {k: [] for k in runs}
        sizes: dict[str, int] = {}
        for rep in range(args.repeats):
            for name, fn in runs.items():
                t = time.process_time()
                _, X = fn(rep)
                dt = time.process_time() - t
                assert X.shape[1] == args.dim and X.shape[0] >= args.points and np.isfinite(X).all()
                sizes[name] = X.shape[0]
                rates[name].append(sizes[name] / dt)
                del X
        forest, _ = our_dataset(args.points, args.dim, np.float64, 0)
        parts: dict[str, list[float]] = {"growth (ours)": [], "embedding float64 (ours)": [],
                                         "the embedding's normal draws alone": []}
        for rep in range(args.repeats):  # where our time goes
            t0 = time.process_time()
            grow_bethe_clusters(max(1, args.points // 1000), 200, bethe_threshold(200), 30, 30_000,
                                np.random.default_rng(rep))
            t1 = time.process_time()
            branching_random_walk(forest, args.dim, np.random.default_rng(rep), dtype=np.float64)
            t2 = time.process_time()
            np.random.default_rng(rep).standard_normal((forest.n_sites, args.dim))
            t3 = time.process_time()
            for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                parts[k].append(v)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    split = {k: statistics.median(v) for k, v in parts.items()}
    print(f"  where ours goes, CPU s (medians, {forest.n_sites} sites): "
          + ", ".join(f"{k} {v:.3f}" for k, v in split.items()))
    med = {k: statistics.median(v) for k, v in rates.items()}
    peer_rate = med["percolation-synthetic-data"]
    for name, rate in med.items():
        print(f"  {name:28s} {sizes[name]:8d} points in R^{args.dim}: {rate:10.4g} points per CPU s   "
              f"({rate / peer_rate:6.1f}x the peer)")
    return {"points": args.points, "dim": args.dim, "repeats": args.repeats, "peer_commit": commit,
            "sites": sizes, "points_per_cpu_s": med, "ours_split_cpu_s": split, "all_points_per_cpu_s": rates,
            "ratio_float64": med["ours float64"] / peer_rate, "ratio_float32": med["ours float32"] / peer_rate}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fraction", type=float, default=1e-3, help="training fraction for the predictions")
    ap.add_argument("--nx-sites", type=int, default=200, help="test sites for the networkx baseline")
    ap.add_argument("--baseline-sites", type=int, default=300_000, help="sites for the Python growth baseline")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--full-seed", action="store_true", help="also time one seed of the paper's configuration")
    ap.add_argument("--dataset", action="store_true", help="only the data-set comparison with the peer (section 4)")
    ap.add_argument("--points", type=int, default=100_000, help="data-set size for --dataset")
    ap.add_argument("--dim", type=int, default=100, help="embedding dimension for --dataset")
    ap.add_argument("--peer-source", default=PEER, help="git URL or path of percolation-synthetic-data")
    ap.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    args = ap.parse_args(argv)
    if args.dataset:
        load = ForeignLoad()
        with threadpool_limits(limits=1):
            res = {"machine": machine_info(), "dataset": dataset_comparison(args)}
        res["foreign_cpu_s"] = load.seconds()
        print(f"CPU seconds used by other processes meanwhile: {res['foreign_cpu_s']}")
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2))
        return 0
    res: dict[str, object] = {"python": platform.python_version(), "numpy": np.__version__,
                              "scipy": scipy.__version__, "cpu": platform.processor() or platform.machine(),
                              "cores": os.cpu_count()}
    with threadpool_limits(limits=1):
        cfg = brill.QUICK
        t_gen, forest = best_of(lambda: grow_bethe_clusters(cfg.n_clusters, cfg.z, 1 / (cfg.z - 1), cfg.min_size,
                                                            cfg.max_size, np.random.default_rng(1)), args.repeats)
        n = forest.n_sites
        base_sites, base_t = python_growth(cfg.z, 1 / (cfg.z - 1), args.baseline_sites, 2)
        res["generation"] = {"sites": n, "seconds": t_gen, "sites_per_s": n / t_gen,
                             "baseline_sites_per_s": base_sites / base_t,
                             "ratio": (n / t_gen) / (base_sites / base_t)}
        print(f"generation: {n} sites in {t_gen:.2f} s = {n / t_gen:.3g} sites/s; plain Python "
              f"{base_sites / base_t:.3g} sites/s; ratio {res['generation']['ratio']:.1f}x")

        rng = np.random.default_rng(3)
        train = rng.random(n) < args.fraction
        sources = np.flatnonzero(train)
        t_levels, tree = best_of(lambda: TreeLevels.from_forest(forest.parent, forest.depth), 1)
        t_sweep, (d_sweep, _) = best_of(lambda: forest_nearest_source(tree, sources), args.repeats)
        fused = ForestNearestNeighbour(tree, forest.values, forest.site_cluster_size)
        train_o = train[tree.order]
        t_fused, _ = best_of(lambda: fused.predict(train_o), args.repeats)
        t_bfs, (d_bfs, _) = best_of(lambda: multi_source_bfs(forest.adjacency, sources), args.repeats)
        t_dij, (d_dij, _, _) = best_of(lambda: dijkstra(forest.adjacency, indices=sources, min_only=True,
                                                        unweighted=True, return_predecessors=True), 1)
        assert np.array_equal(d_sweep, d_bfs)
        assert np.array_equal(np.where(np.isinf(d_dij), -1, d_dij).astype(int), d_bfs)
        test = rng.choice(np.flatnonzero(~train), size=args.nx_sites, replace=False)
        d_nx, t_nx = networkx_nearest(forest.adjacency, train, test)
        assert np.array_equal(d_nx, d_bfs[test])
        rates = {"fused regressor, depth order (ours)": n / t_fused,
                 "two-sweep forest search (ours)": n / t_sweep, "multi-source BFS (ours)": n / t_bfs,
                 "scipy dijkstra min_only": n / t_dij, "networkx BFS per test site": args.nx_sites / t_nx}
        res["prediction"] = {"sites": n, "training_sites": int(sources.size), "levels_setup_s": t_levels,
                             "predictions_per_s": rates}
        print(f"nearest training site for all {n} sites ({sources.size} training sites, one-off depth levels "
              f"{t_levels:.2f} s):")
        for name, rate in rates.items():
            print(f"  {name:36s} {rate:10.3g} predictions/s   fastest ours / this = "
                  f"{rates['fused regressor, depth order (ours)'] / rate:8.1f}x")
        if args.full_seed:
            t0 = time.perf_counter()
            r = brill.run_seed(brill.FULL, 0)
            t_full = time.perf_counter() - t0
            res["full_seed"] = {"sites": int(r["sites"]), "seconds": t_full, "clusters": brill.FULL.n_clusters,
                                "predictions": 3 * 50}
            print(f"one seed of the full configuration: {r['sites']} sites, {t_full:.1f} s "
                  f"(generation, 50 conversion sizes, 50 model sizes, 50 data sizes)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
