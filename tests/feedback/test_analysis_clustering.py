"""Emerging themes: clustering recovers planted clusters and leaves known themes out."""

from __future__ import annotations

from rapport.feedback.analysis import ThemeDef
from rapport.feedback.analysis.clustering import cluster

PARKING = [
    "The parking lot at the Taipei showroom is always full",
    "No parking spaces left at the showroom again",
    "Parking at the showroom is impossible on weekends",
    "Could not find parking near the showroom, drove around for ages",
    "The showroom parking is far too small for customers",
    "Showroom parking full again, had to park on the street",
]
DELIVERY = [
    "外送餐點送到都冷掉了",
    "外送太慢，餐點冷掉",
    "叫外送等了一個小時，餐點都冷了",
    "外送員遲到，食物冷掉不能吃",
    "外送的湯冷掉了還灑出來",
    "外送送到的時候餐點已經冷掉",
]
SIGNAL = [
    "My 5G signal keeps dropping at home",
    "5G signal drops every evening",
    "Weak 5G signal in my apartment, the signal keeps dropping",
    "The 5G signal is terrible, keeps dropping",
    "Lost the 5G signal again today",
    "5G signal dropping all the time in Kaohsiung",
]
NOISE = ["I like turtles", "What time is it", "Happy new year everyone", "My cat is asleep"]


def _purity(clusters, groups) -> bool:
    found = [set(c.indices) for c in clusters]
    for group in groups:
        best = max(found, key=lambda f: len(f & group), default=set())
        if len(best & group) < len(group) - 2 or len(best - group) > 1:
            return False
    return True


def test_recovers_planted_clusters_with_names_and_quotes() -> None:
    texts = PARKING + DELIVERY + SIGNAL + NOISE
    clusters = cluster(texts)
    groups = [set(range(0, 6)), set(range(6, 12)), set(range(12, 18))]
    assert len(clusters) >= 3
    assert _purity(clusters, groups)
    names = " ".join(c.name for c in clusters)
    assert "parking" in names and "signal" in names and "外送" in names  # named in Traditional
    for c in clusters:
        assert 1 <= len(c.quotes) <= 3 and all(q in texts for q in c.quotes)
        assert c.size == len(c.indices) and 0 < c.cohesion <= 1


def test_known_themes_are_left_out() -> None:
    texts = PARKING + DELIVERY + SIGNAL
    clusters = cluster(texts, [ThemeDef("parking", "Parking", keywords=("parking",))])
    assert all(not set(c.indices) & set(range(0, 6)) for c in clusters)
    assert len(clusters) >= 2


def test_too_little_to_cluster() -> None:
    assert cluster([]) == []
    assert cluster(["only one text"]) == []
    assert cluster(["😀", "", "  "] * 5) == []
