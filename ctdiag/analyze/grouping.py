"""Grouping and ranking rows of integer columns: the numpy kernels of the table summary.

Pure and vectorised: a million rows group in one ``bincount`` or one ``argsort``, and a
ranking sorts only its candidates.
"""

from __future__ import annotations

import numpy as np


def dense_codes(key: np.ndarray) -> tuple[np.ndarray, int]:
    """Non-negative integers (any integer dtype) renumbered 0..k-1 in their order (int64),
    and k."""
    top = int(key.max()) + 1
    if top > max(8 * len(key), 1 << 20):  # a sparse range: sorting is cheaper
        values, inverse = np.unique(key, return_inverse=True)
        return inverse.reshape(-1).astype(np.int64), len(values)
    present = np.zeros(top, dtype=bool)
    present[key] = True
    rank = np.cumsum(present, dtype=np.int64) - 1
    return rank[key], int(rank[-1]) + 1


def group_rows(
    keys: list[np.ndarray], flagged: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group rows with equal keys (non-negative integer arrays, at least one row).

    Each key is renumbered densely and all are packed into one int64 (mixed radix), so one
    ``bincount`` (few distinct packed values) or one ``argsort`` groups the rows: several
    times faster than ``lexsort`` over the keys on a million rows.

    Returns:
        Per group (in no particular order): its size, its first row (the smallest row index,
        which also stands for the group's key), and how many of its rows are ``flagged``.
    """
    n = len(keys[0])
    packed = np.zeros(n, np.int64)
    bound = 1
    for key in keys:
        dense, width = dense_codes(key)
        if bound * width >= 1 << 62:
            packed, bound = dense_codes(packed)
        packed *= width  # in place: a million-row table has several keys of 8 MB each
        packed += dense
        del dense
        bound *= width
    if bound <= n + 4096:  # per-value arrays no bigger than the rows: no sort needed
        counts = np.bincount(packed, minlength=bound)
        present = np.flatnonzero(counts)
        first = np.full(bound, n, dtype=np.int64)
        np.minimum.at(first, packed, np.arange(n, dtype=np.int64))
        marked = np.bincount(packed[flagged], minlength=bound)
        return counts[present], first[present], marked[present]
    order = np.argsort(packed)
    ranked = packed[order]
    change = np.empty(n, dtype=bool)
    change[:1] = True
    np.not_equal(ranked[1:], ranked[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    first = np.minimum.reduceat(order, starts)
    marked = np.add.reduceat(flagged[order].astype(np.int64), starts)
    return np.diff(np.append(starts, n)), first, marked


def largest(counts: np.ndarray, first_rows: np.ndarray, limit: int | None) -> np.ndarray:
    """Indices of the ``limit`` largest counts; equal counts keep the order of first appearance.

    Only the candidates are sorted: a table can have hundreds of thousands of addresses or
    groups, and a ranking keeps ten.
    """
    if limit is not None and limit < len(counts):
        if limit <= 0:
            return np.zeros(0, dtype=np.intp)
        kth = np.partition(counts, len(counts) - limit)[len(counts) - limit]
        above = np.flatnonzero(counts > kth)  # fewer than limit of them
        ties = np.flatnonzero(counts == kth)
        need = limit - len(above)
        if len(ties) > need:  # first_rows are distinct: the earliest `need` of the ties
            ties = ties[np.argpartition(first_rows[ties], need - 1)[:need]]
        chosen = np.concatenate([above, ties])
        return chosen[np.lexsort((first_rows[chosen], -counts[chosen].astype(np.int64)))]
    ranked = np.lexsort((first_rows, -counts.astype(np.int64)))
    return ranked if limit is None else ranked[:limit]
