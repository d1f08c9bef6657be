"""Grouping texts by meaning: average-linkage agglomerative clustering of embeddings with a cosine
threshold (scipy's hierarchy). Two groups merge while the mean cosine similarity between their members is
at least the threshold, so a group is held together by all its members, not chained by one pair."""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform


def groups(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Indices grouped; groups in order of their first member, members in input order."""
    count = len(vectors)
    if count == 0:
        return []
    if count == 1:
        return [[0]]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    distances = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    tree = linkage(squareform(distances, checks=False), method="average")
    labels = fcluster(tree, t=1.0 - threshold, criterion="distance")
    order: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        order.setdefault(int(label), []).append(index)
    return list(order.values())
