"""Population stability index (PSI) between two binned distributions."""

from __future__ import annotations

import math
from collections.abc import Mapping

#: share given to an empty bin so that the logarithm stays finite (the usual convention)
EPSILON = 1e-4


def psi(expected: Mapping[str, float], actual: Mapping[str, float], epsilon: float = EPSILON) -> float:
    """Return ``sum((a - e) * ln(a / e))`` over the union of bins, on shares (counts are normalised).

    :param expected: bin -> count (or share) of the reference distribution (the previous partition)
    :param actual: bin -> count (or share) of the new distribution
    :param epsilon: share used for a bin that is empty on one side
    """
    total_e = float(sum(expected.values()))
    total_a = float(sum(actual.values()))
    if total_e <= 0 or total_a <= 0:
        raise ValueError("PSI needs two non-empty distributions")
    value = 0.0
    for key in sorted(set(expected) | set(actual)):
        e = max(expected.get(key, 0.0) / total_e, epsilon)
        a = max(actual.get(key, 0.0) / total_a, epsilon)
        value += (a - e) * math.log(a / e)
    return value
