"""Percolation data model of Brill (2024): cluster generators (Bethe lattice, hypercubic lattices), the
multi-cluster task, a Euclidean embedding and estimators of p_c, tau and the fractal dimension."""

from scalinglab.tasks.percolation.bethe import bethe_threshold, default_cluster_count, grow_bethe_clusters
from scalinglab.tasks.percolation.task import ClusterForest, PercolationTask

__all__ = ["ClusterForest", "PercolationTask", "bethe_threshold", "default_cluster_count", "grow_bethe_clusters"]
