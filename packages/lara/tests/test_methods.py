"""``lara.methods``: the five methods as ensembles of demonstration groups (spec §2, §8)."""

from __future__ import annotations

import pytest

from lara.methods import METHODS, Ensemble, build_ensemble
from lara.search import LaraFit


def demos(n: int) -> list[dict]:
    return [{"input": f"d{i}", "target": str(i)} for i in range(n)]


def names(groups: list[list[dict]]) -> list[list[str]]:
    return [[d["input"] for d in group] for group in groups]


def lara_fit(binary: bool) -> LaraFit:
    weights = [1.0, 0.0, 1.0, 1.0] if binary else [0.5, -1.2, 0.3, 1.4]
    return LaraFit(binary, 2, [[0, 1], [2, 3], [4, 5], [6, 7]], weights, {2: 1.5})


def test_methods_tuple() -> None:
    assert METHODS == ("icl", "icl_truncated", "uniform", "lara", "blara")


def test_icl() -> None:
    d = demos(8)
    ensemble = build_ensemble("icl", d)
    assert ensemble == Ensemble("icl", [d], [1.0])
    assert ensemble.groups[0] is not d and ensemble.groups[0] == d


def test_icl_truncated() -> None:
    d = demos(32)
    assert names(build_ensemble("icl_truncated", d).groups) == [[f"d{i}" for i in range(8)]]  # max k = 8
    assert names(build_ensemble("icl_truncated", demos(16)).groups) == [["d0", "d1", "d2", "d3"]]
    assert names(build_ensemble("icl_truncated", demos(8)).groups) == [["d0", "d1"]]
    ensemble = build_ensemble("icl_truncated", d, truncated_demos=5)
    assert names(ensemble.groups) == [["d0", "d1", "d2", "d3", "d4"]] and ensemble.weights == [1.0]
    assert build_ensemble("icl_truncated", demos(4), truncated_demos=3).method == "icl_truncated"
    with pytest.raises(ValueError, match="truncated_demos"):
        build_ensemble("icl_truncated", demos(4))  # no candidate group size, no default m


def test_uniform() -> None:
    d = demos(9)
    ensemble = build_ensemble("uniform", d, group_size=2)
    assert names(ensemble.groups) == [["d0", "d1"], ["d2", "d3"], ["d4", "d5"], ["d6", "d7", "d8"]]
    assert ensemble.weights == [0.25] * 4
    from_fit = build_ensemble("uniform", demos(8), fit=lara_fit(False))
    assert names(from_fit.groups) == [["d0", "d1"], ["d2", "d3"], ["d4", "d5"], ["d6", "d7"]]
    # an explicit group size wins over the fit's
    assert len(build_ensemble("uniform", demos(16), fit=lara_fit(False), group_size=4).groups) == 4
    assert build_ensemble("uniform", demos(10), group_size=4).weights == [0.5, 0.5]
    with pytest.raises(ValueError, match="group_size"):
        build_ensemble("uniform", demos(8))


def test_lara_and_blara() -> None:
    d = demos(8)
    lara = build_ensemble("lara", d, fit=lara_fit(False))
    assert lara.method == "lara"
    assert names(lara.groups) == [["d0", "d1"], ["d2", "d3"], ["d4", "d5"], ["d6", "d7"]]
    assert lara.weights == [0.5, -1.2, 0.3, 1.4]
    blara = build_ensemble("blara", d, fit=lara_fit(True))
    assert len(blara.groups) == 4 and blara.weights == [1.0, 0.0, 1.0, 1.0]  # zero-weight groups stay
    assert blara.active_groups == 3
    # groups follow the fit's indices, whatever they are
    odd = LaraFit(False, 2, [[0, 1], [2, 3, 4], [5, 6], [7, 8]], [1, 1, 1, 1], {2: 0.0})
    assert names(build_ensemble("lara", demos(9), fit=odd).groups)[1] == ["d2", "d3", "d4"]


def test_lara_errors() -> None:
    d = demos(8)
    with pytest.raises(ValueError, match="fit"):
        build_ensemble("lara", d)
    with pytest.raises(ValueError, match="fit"):
        build_ensemble("blara", d)
    with pytest.raises(ValueError, match="blara"):
        build_ensemble("lara", d, fit=lara_fit(True))
    with pytest.raises(ValueError, match="lara"):
        build_ensemble("blara", d, fit=lara_fit(False))
    with pytest.raises(ValueError, match="demo"):
        build_ensemble("lara", demos(6), fit=lara_fit(False))


@pytest.mark.parametrize("method", ["nope", "LARA", ""])
def test_unknown_method(method: str) -> None:
    with pytest.raises(ValueError, match="unknown method"):
        build_ensemble(method, demos(8))


@pytest.mark.parametrize("method", METHODS)
def test_empty_demos(method: str) -> None:
    with pytest.raises(ValueError):
        build_ensemble(method, [], fit=lara_fit(method == "blara"), group_size=2, truncated_demos=2)
