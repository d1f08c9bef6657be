"""Knowledge-gap grouping (analytics/clustering.py) on vectors whose cosines are worked out by hand."""

from __future__ import annotations

import numpy as np

from service.analytics.clustering import groups
from service.incidents.grouping import representative


def unit(degrees: float) -> list[float]:
    return [float(np.cos(np.radians(degrees))), float(np.sin(np.radians(degrees)))]


def test_average_linkage_keeps_a_chain_apart() -> None:
    # 0°, 35°, 80°: cos(35°) = 0.819, cos(45°) = 0.707, cos(80°) = 0.174. At threshold 0.6 single
    # linkage would chain all three; average linkage joins 0° and 35° first, then 80° is on average
    # (0.174 + 0.707) / 2 = 0.44 from them: apart at 0.6, together at 0.4.
    vectors = np.array([unit(0), unit(35), unit(80), unit(180)])
    assert groups(vectors, 0.6) == [[0, 1], [2], [3]]
    assert groups(vectors, 0.4) == [[0, 1, 2], [3]]
    assert groups(vectors, 0.99) == [[0], [1], [2], [3]]


def test_the_central_member_is_closest_to_all_others() -> None:
    vectors = np.array([unit(0), unit(20), unit(40)])
    assert representative(vectors) == 1  # 20° is 20° from both others
    assert groups(np.empty((0, 2)), 0.6) == [] and groups(np.array([unit(5)]), 0.6) == [[0]]
