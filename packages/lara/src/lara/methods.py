"""The methods compared in the paper, as ensembles of demonstration groups (spec §2, ``lara.methods``).

Every method is an :class:`Ensemble`: groups of demonstrations and one raw weight per group, decoded by the
multi-group engine with the combined distribution log p ∝ Σ_i w̃_i log p_i (Huang, Huang & Huang, arXiv
2410.10074). Full-context ICL is one group holding every demo; truncated ICL one group holding the first m demos
(one LARA group's context); the uniform ensemble the cross-fitting groups ``groups_A + groups_B`` with equal
weights (the paper's non-reweighted ablation); LARA and B-LARA the same groups with fitted weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lara.grouping import candidate_group_sizes, cross_fit_groups
from lara.search import LaraFit

__all__ = ["METHODS", "Ensemble", "build_ensemble"]

METHODS = ("icl", "icl_truncated", "uniform", "lara", "blara")


@dataclass
class Ensemble:
    """A method ready to decode: its name, the demo groups and one raw weight per group.

    Groups whose normalised weight is zero stay in the ensemble but are never run by the engine.
    """

    method: str
    groups: list[list[dict]]
    weights: list[float]

    @property
    def active_groups(self) -> int:
        """The number of groups with a non-zero weight (those the engine runs)."""
        return sum(1 for w in self.weights if w != 0)


def build_ensemble(
    method: str,
    demos: Sequence[dict],
    *,
    fit: LaraFit | None = None,
    group_size: int | None = None,
    truncated_demos: int | None = None,
) -> Ensemble:
    """The :class:`Ensemble` of ``method`` over ``demos``.

    - ``icl``: one group holding every demo, weight 1 (full-context ICL).
    - ``icl_truncated``: one group holding the first m demos, m = ``truncated_demos`` or else
      ``max(candidate_group_sizes(len(demos)))`` (the context of one LARA group).
    - ``uniform``: the groups of ``cross_fit_groups(demos, k)`` (A's then B's), weights 1/G; k = ``group_size``,
      else ``fit.group_size``.
    - ``lara`` / ``blara``: the fit's groups (demo indices) and raw weights; ``fit.binary`` must match.

    Raises:
        ValueError: unknown method, empty demos, no m for ``icl_truncated``, no k for ``uniform``, a missing or
            mismatched fit, or fit indices outside the demo list.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    demos = list(demos)
    if not demos:
        raise ValueError(f"method {method!r} needs at least one demonstration")

    if method == "icl":
        return Ensemble(method, [demos], [1.0])

    if method == "icl_truncated":
        if truncated_demos is None:
            sizes = candidate_group_sizes(len(demos))
            if not sizes:
                raise ValueError(
                    f"icl_truncated: no default number of demos for {len(demos)} demos "
                    "(no candidate group size); pass truncated_demos"
                )
            truncated_demos = max(sizes)
        if truncated_demos < 1:
            raise ValueError(f"icl_truncated: truncated_demos must be >= 1, got {truncated_demos}")
        return Ensemble(method, [demos[:truncated_demos]], [1.0])

    if method == "uniform":
        k = group_size if group_size is not None else (fit.group_size if fit is not None else None)
        if k is None:
            raise ValueError("uniform: pass group_size or a fit to take the group size from")
        groups_a, groups_b = cross_fit_groups(demos, k)
        groups = groups_a + groups_b
        return Ensemble(method, groups, [1.0 / len(groups)] * len(groups))

    # lara / blara
    wants_binary = method == "blara"
    if fit is None:
        raise ValueError(f"{method}: a fitted {'B-LARA' if wants_binary else 'LARA'} model (fit) is required")
    if bool(fit.binary) != wants_binary:
        kind = "binary (B-LARA)" if fit.binary else "continuous (LARA)"
        raise ValueError(f"{method}: the fit is {kind}; use method {'blara' if fit.binary else 'lara'}")
    if len(fit.weights) != len(fit.groups):
        raise ValueError(f"{method}: the fit has {len(fit.groups)} groups but {len(fit.weights)} weights")
    fitted: list[list[dict]] = []
    for group in fit.groups:
        for index in group:
            if not 0 <= index < len(demos):
                raise ValueError(f"{method}: the fit names demo {index}, but there are {len(demos)} demos")
        fitted.append([demos[index] for index in group])
    return Ensemble(method, fitted, [float(w) for w in fit.weights])
