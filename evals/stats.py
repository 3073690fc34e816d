"""The statistics of a results file, in plain Python (no SciPy in the service's install).

- `wilson`: the 95 % Wilson score interval of a proportion k/n; unlike the normal
  approximation it stays inside [0, 1] and is honest at 0/n and n/n.
- `fisher_exact`: two-sided Fisher's exact test of k1/n1 against k2/n2 (the
  probabilities of every table with the same margins no likelier than the one seen).
- `mann_whitney`: two-sided Mann-Whitney U test (normal approximation with the tie
  correction and a continuity correction) for samples that are not proportions:
  judge grades, seconds per turn, tokens per scenario.
- `holm`: Holm's step-down correction of p-values tested together, so a comparison of
  a dozen scores does not find a "difference" in one of them by chance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054
ALPHA = 0.05


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    if n <= 0:
        return None
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    if n1 <= 0 or n2 <= 0:
        return 1.0
    successes, total = k1 + k2, n1 + n2
    low, high = max(0, successes - n2), min(successes, n1)

    def log_p(a: int) -> float:  # P(first group has a successes | the margins)
        return _log_comb(n1, a) + _log_comb(n2, successes - a) - _log_comb(total, successes)

    seen = log_p(k1)
    tolerance = 1e-7
    p = sum(math.exp(lp) for a in range(low, high + 1) if (lp := log_p(a)) <= seen + tolerance)
    return min(1.0, p)


def mann_whitney(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """None when either sample is too small (under 3) to say anything."""
    n1, n2 = len(xs), len(ys)
    if n1 < 3 or n2 < 3:
        return None
    pooled = sorted([(x, 0) for x in xs] + [(y, 1) for y in ys])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for m in range(i, j + 1):
            ranks[m] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    r1 = sum(r for r, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
    u = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return 1.0  # every value the same
    z = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(variance)
    return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [1.0] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    at = (len(ordered) - 1) * q / 100
    low, high = math.floor(at), math.ceil(at)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
