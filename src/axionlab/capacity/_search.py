"""Bisection for the largest size at which a monotone yes/no property still holds."""

from __future__ import annotations

from collections.abc import Callable


def largest_true(holds: Callable[[int], bool], lo: int, hi: int) -> tuple[int, int]:
    """Largest ``n`` in ``[lo, hi]`` with ``holds(n)``, or ``lo - 1`` if none, for non-increasing
    ``holds``; returns ``(n, evaluations)`` after at most ``ceil(log2(hi - lo + 2))`` evaluations.
    """
    known_true, known_false = lo - 1, hi + 1  # both sentinels are never evaluated
    evaluations = 0
    while known_false - known_true > 1:
        mid = (known_true + known_false) // 2
        evaluations += 1
        if holds(mid):
            known_true = mid
        else:
            known_false = mid
    return known_true, evaluations
