"""Self-play machinery shared by r-zero and visplay: votes, uncertainty, BLEU clustering, question rewards.

A generator writes questions, a frozen solver answers each one m times, the majority answer becomes the
pseudo-label (:func:`pseudo_label`), and the generator is rewarded for questions the solver is unsure about
(:func:`uncertainty_reward`) and penalised for questions that repeat others (:func:`repetition_penalties`,
built on :func:`bleu_distance_matrix` and :func:`cluster_labels`).

Symbols used throughout:

- m: the number of solver samples per question; p_hat (p̂): the share of all m samples that voted for the
  majority answer (R-Zero's empirical accuracy, VisPlay's confidence c).
- tau (τ): the BLEU-distance threshold of the clustering; average linkage merges only while the average
  distance between two clusters is strictly below τ.
- lam (λ): the weight of the repetition penalty, r_rep(x_i) = λ·|C(i)|/B.

Plain strings and numbers in, plain values out. BLEU is computed here, not by nltk, but reproduces
``nltk.translate.bleu_score.sentence_bleu`` (BLEU-4, ``SmoothingFunction().method1``) operation for operation;
scipy is imported on the first clustering call only.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from rlcore.answers import answers_match

__all__ = [
    "Vote",
    "bleu_distance_matrix",
    "bleu_similarity",
    "cluster_labels",
    "cluster_shares",
    "in_band",
    "pseudo_label",
    "question_reward",
    "repetition_penalties",
    "uncertainty_reward",
]


# ----------------------------------------------------------------------------------------------------------
# 3.1 Pseudo-labels by majority vote


@dataclass(frozen=True)
class Vote:
    """The outcome of a majority vote over m solver samples.

    ``label`` is the representative (first member) of the largest bucket of equivalent answers, ``count`` its
    size, and ``p_hat`` = count / m, the share of *all* m samples (missing answers included) that voted for it.
    """

    label: str | None
    count: int
    p_hat: float


def pseudo_label(
    answers: Sequence[str | None],
    num_samples: int | None = None,
    match: Callable[[str, str], bool] | None = None,
) -> Vote:
    """Majority vote over already-extracted final answers, one per solver sample.

    An entry that is not a string, or is empty after ``strip()``, is missing: it does not vote but counts in
    m = ``num_samples`` (default ``len(answers)``). Present answers are stripped and bucketed greedily in input
    order: an answer joins the first bucket whose representative is string-identical to it or for which
    ``match(rep, ans) or match(ans, rep)`` holds (``match`` defaults to :func:`rlcore.answers.answers_match`),
    else it opens a new bucket. The largest bucket wins, ties going to the bucket opened first. No answer
    present gives ``Vote(None, 0, 0.0)``. ``num_samples < len(answers)`` is a ``ValueError``.
    """
    m = len(answers) if num_samples is None else num_samples
    if m < len(answers):
        raise ValueError(f"num_samples={num_samples} is smaller than the {len(answers)} answers given")
    same = answers_match if match is None else match
    reps: list[str] = []
    counts: list[int] = []
    for raw in answers:
        if not isinstance(raw, str) or not raw.strip():
            continue
        ans = raw.strip()
        for b, rep in enumerate(reps):
            if rep == ans or same(rep, ans) or same(ans, rep):
                counts[b] += 1
                break
        else:
            reps.append(ans)
            counts.append(1)
    if not reps:
        return Vote(None, 0, 0.0)
    best = 0
    for b in range(1, len(counts)):
        if counts[b] > counts[best]:  # strict: ties stay with the bucket opened first
            best = b
    return Vote(reps[best], counts[best], counts[best] / m)


# ----------------------------------------------------------------------------------------------------------
# 3.2 Uncertainty reward


def _check_p_hat(p_hat: float) -> float:
    value = float(p_hat)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"p_hat must be in [0, 1], got {p_hat!r}")
    return value


def uncertainty_reward(p_hat: float) -> float:
    """1 − 2·|p̂ − ½|: 1 when the solver's majority share p̂ is ½, 0 at p̂ ∈ {0, 1}, linear in between.

    VisPlay writes it 1 − |2c − 1| with c = p̂, the same function. ``ValueError`` if p̂ is NaN or outside [0, 1].
    """
    return 1.0 - 2.0 * abs(_check_p_hat(p_hat) - 0.5)


# ----------------------------------------------------------------------------------------------------------
# 3.3 BLEU between generated questions
#
# nltk's sentence_bleu with weights (¼, ¼, ¼, ¼), method1 smoothing and auto_reweigh=False computes, per order
# n = 1..4, the Fraction p_n = clipped matches / max(1, hypothesis n-grams); method1 replaces a zero-match p_n
# by (0 + 0.1) / denominator; then BLEU = bp * exp(fsum(0.25 * log(p_n))), with bp = 1 (the int) when the
# hypothesis is longer than the reference and exp(1 - len(ref) / len(hyp)) otherwise, and 0 when there is no
# unigram match. We reproduce each of these float operations on the same operands in the same order, so the
# values are nltk's bit for bit; only the counting is faster. A multiset of n-grams is stored as the *set* of
# (n-gram, occurrence index) keys, interned as ints, so that min(count in hyp, count in ref) summed over
# n-grams, nltk's integer clipped count, is the size of a C-level set intersection.

_ORDERS = 4  # BLEU-4
_WEIGHT = 0.25  # uniform weights 1/_ORDERS, exactly as nltk's default tuple
_EPSILON = 0.1  # SmoothingFunction().epsilon, added to zero-match numerators by method1
_POOL_MIN_PAIRS = 20_000  # below this a process pool's start-up costs more than it saves

_Features = tuple[int, tuple[frozenset[int], ...]]  # (token count, per-order multiset keys)


def _text_features(text: str, vocab: dict[tuple[tuple[str, ...], int], int]) -> _Features:
    """Token count and, for n = 1..4, the interned (n-gram, occurrence) keys of one text."""
    tokens = text.split()
    orders = []
    for n in range(1, _ORDERS + 1):
        grams = Counter(zip(*(tokens[i:] for i in range(n)), strict=False))
        keys = [
            vocab.setdefault((gram, k), len(vocab)) for gram, count in grams.items() for k in range(count)
        ]
        orders.append(frozenset(keys))
    return len(tokens), tuple(orders)


@lru_cache(maxsize=4096)
def _weighted_logs(hyp_len: int) -> tuple[tuple[float, ...], ...]:
    """For a hypothesis of ``hyp_len`` tokens: per order n, the value 0.25·log(p_n) for each match count k.

    The denominator is max(1, number of hypothesis n-grams), as in nltk; k = 0 is method1's (0 + 0.1) / d.
    The float operands are those nltk hands to ``math.log`` (``float(Fraction(k, d))`` is the correctly
    rounded k / d), so the table entries equal nltk's ``w_i * math.log(p_i)``.
    """
    table = []
    for n in range(1, _ORDERS + 1):
        d = max(1, hyp_len - n + 1)
        table.append(tuple(_WEIGHT * math.log((0 + _EPSILON) / d if k == 0 else k / d) for k in range(d + 1)))
    return tuple(table)


def _score_rows(
    features: Sequence[_Features], rows: Sequence[tuple[int, Sequence[int]]]
) -> list[list[float]]:
    """For each (h, refs) row: BLEU of ``features[h]`` (hypothesis) against each ``features[r]`` (reference)."""
    fsum, exp = math.fsum, math.exp
    out = []
    for h, refs in rows:
        hyp_len, (h1, h2, h3, h4) = features[h]
        l1, l2, l3, l4 = _weighted_logs(hyp_len)
        scores = []
        for r in refs:
            ref_len, (r1, r2, r3, r4) = features[r]
            m1 = len(h1 & r1)
            if m1 == 0:  # nltk returns 0 without unigram matches (this covers an empty side)
                scores.append(0.0)
                continue
            # A matching n-gram contains matching (n-1)-grams, so a zero count makes the higher orders zero too.
            m2 = len(h2 & r2)
            m3 = len(h3 & r3) if m2 else 0
            m4 = len(h4 & r4) if m3 else 0
            s = fsum((l1[m1], l2[m2], l3[m3], l4[m4]))
            # nltk's bp is the int 1 when the hypothesis is longer; 1 * x is x, bit for bit.
            bp = 1 if hyp_len > ref_len else exp(1 - ref_len / hyp_len)
            scores.append(bp * exp(s))
        out.append(scores)
    return out


def _as_text(value: object, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, got {type(value).__name__}")
    return value


def bleu_similarity(hypothesis: str | None, reference: str | None) -> float:
    """Sentence BLEU-4 of ``hypothesis`` against the single ``reference``, equal to nltk's value.

    That is ``sentence_bleu([reference.split()], hypothesis.split(), weights=(0.25,) * 4,
    smoothing_function=SmoothingFunction().method1, auto_reweigh=False)``: tokens from ``str.split()``, p_n =
    clipped matches / max(1, hypothesis n-grams) with 0.1 in place of a zero numerator, BP = 1 if the
    hypothesis is longer else exp(1 − len(ref)/len(hyp)), BLEU = BP·exp(Σ ¼·log p_n), and 0.0 without a
    unigram match. Identical texts shorter than 4 tokens score below 1. ``None`` counts as ``""``; any other
    non-string is a ``TypeError``.
    """
    hyp = _as_text(hypothesis, "hypothesis")
    ref = _as_text(reference, "reference")
    vocab: dict[tuple[tuple[str, ...], int], int] = {}
    features = [_text_features(hyp, vocab), _text_features(ref, vocab)]
    return _score_rows(features, [(0, [1])])[0][0]


# State of a "spawn" pool worker: the distinct texts' features, built once per worker by the initializer.
_worker_features: list[_Features] = []


def _init_worker(texts: list[str]) -> None:
    vocab: dict[tuple[tuple[str, ...], int], int] = {}
    _worker_features[:] = [_text_features(t, vocab) for t in texts]


def _score_chunk(rows: list[tuple[int, list[int]]]) -> list[list[float]]:
    return _score_rows(_worker_features, rows)


def bleu_distance_matrix(texts: Sequence[str | None], workers: int = 1) -> np.ndarray:
    """B×B float64 matrix of BLEU distances, diagonal 0: for i < j, 1 − BLEU(texts[i], texts[j]), mirrored.

    The hypothesis is the *earlier* item and the reference the later one (the convention of both official
    codes; BLEU is not symmetric, so the matrix depends on order). ``None`` counts as ``""``. Each distinct text
    is counted once and each distinct ordered pair of texts scored once, so exact duplicates cost nothing.
    ``workers > 1`` spreads the distinct pairs over a "spawn" process pool when there are at least 20,000 of
    them; the result is bitwise identical for every ``workers``. Each such call starts a fresh pool whose
    children re-import the calling program's main module, which must therefore be safe to import (the ``if
    __name__ == "__main__":`` guard) and is best light: a start-up of seconds outweighs the gain unless B is
    in the thousands and cores are free. ``workers < 1`` is a ``ValueError``.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    index: dict[str, int] = {}  # distinct text -> id, in order of first occurrence
    ids = np.empty(len(texts), dtype=np.intp)
    for i, value in enumerate(texts):
        ids[i] = index.setdefault(_as_text(value, f"texts[{i}]"), len(index))
    distinct = list(index)
    size = len(texts)
    if size < 2:
        return np.zeros((size, size))

    # The ordered (hypothesis, reference) pairs of distinct texts that some i < j needs, row by row (no B²
    # index arrays); a text repeated at two positions needs its pair with itself (short identical texts score
    # below 1).
    needed = np.zeros((len(distinct), len(distinct)), dtype=bool)
    for i in range(size - 1):
        needed[ids[i], ids[i + 1 :]] = True
    rows = [(h, np.flatnonzero(row).tolist()) for h, row in enumerate(needed) if row.any()]
    num_pairs = int(needed.sum())

    if workers > 1 and num_pairs >= _POOL_MIN_PAIRS:
        # Chunks of consecutive rows with about equal pair counts, a few per worker so that uneven text lengths
        # even out; map returns them in order.
        ends = np.cumsum([len(refs) for _, refs in rows])
        cuts = np.searchsorted(ends, np.linspace(0, num_pairs, 4 * workers + 1)[1:-1])
        chunks = [rows[a:b] for a, b in itertools.pairwise([0, *cuts.tolist(), len(rows)]) if b > a]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker, initargs=(distinct,)) as pool:
            scores = [row for part in pool.map(_score_chunk, chunks) for row in part]
    else:
        vocab: dict[tuple[tuple[str, ...], int], int] = {}
        scores = _score_rows([_text_features(t, vocab) for t in distinct], rows)

    similarity = np.zeros((len(distinct), len(distinct)))
    for (h, refs), row_scores in zip(rows, scores, strict=True):
        similarity[h, refs] = row_scores
    # Item space: with all texts distinct, ids is 0..B-1 and the gather would be a copy.
    distances = similarity if len(distinct) == size else similarity[np.ix_(ids, ids)]
    np.subtract(1.0, distances, out=distances)
    for i in range(size):  # mirror the upper triangle in place, without B² temporaries
        distances[i, i] = 0.0
        distances[i + 1 :, i] = distances[i, i + 1 :]
    return distances


# ----------------------------------------------------------------------------------------------------------
# 3.4 Average-linkage clustering with a distance threshold


def _check_tau(tau: float) -> float:
    value = float(tau)
    if math.isnan(value) or value < 0:
        raise ValueError(f"tau must be a number >= 0, got {tau!r}")
    return value


def cluster_labels(distances: Sequence[Sequence[float]] | np.ndarray, tau: float = 0.5) -> list[int]:
    """Average-linkage (UPGMA) clusters of a precomputed B×B distance matrix, merging while below ``tau``.

    Starting from singletons, the two clusters with the smallest average pairwise distance merge, as long as
    that average is strictly below τ (two items at exactly τ stay apart). This is scipy's ``linkage(...,
    method="average")`` on the upper triangle cut by a union-find over exactly the merges of height < τ
    (``fcluster(..., criterion="distance")`` would also keep heights equal to τ), the partition of sklearn's
    ``AgglomerativeClustering(distance_threshold=tau, metric="precomputed", linkage="average")``.
    Labels are 0, 1, ... in order of each cluster's first item. ``ValueError`` if the matrix is not square, has
    a NaN, infinite or negative entry, is asymmetric by more than 1e-9, or τ < 0.
    """
    threshold = _check_tau(tau)
    d = np.asarray(distances, dtype=np.float64)
    if d.size == 0 and d.ndim <= 2:
        return []
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"distances must be a square matrix, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("distances has a NaN or infinite entry")
    if np.any(d < 0):
        raise ValueError("distances has a negative entry")
    if np.any(np.abs(d - d.T) > 1e-9):
        raise ValueError("distances is not symmetric (beyond 1e-9)")
    size = d.shape[0]
    if size == 1:
        return [0]

    from scipy.cluster.hierarchy import linkage

    merges = linkage(d[np.triu_indices(size, k=1)], method="average")
    # Row k of the linkage merges clusters merges[k, 0] and merges[k, 1] into cluster size + k.
    parent = list(range(2 * size - 1))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for k, (a, b, height, _) in enumerate(merges):
        if height < threshold:
            parent[root(int(a))] = size + k
            parent[root(int(b))] = size + k
    labels: dict[int, int] = {}
    return [labels.setdefault(root(i), len(labels)) for i in range(size)]


def cluster_shares(distances: Sequence[Sequence[float]] | np.ndarray, tau: float = 0.5) -> list[float]:
    """For each item, |its cluster| / B under :func:`cluster_labels` (same arguments and errors)."""
    labels = cluster_labels(distances, tau)
    sizes = Counter(labels)
    return [sizes[label] / len(labels) for label in labels]


# ----------------------------------------------------------------------------------------------------------
# 3.5 Repetition (diversity) penalty


def repetition_penalties(
    texts: Sequence[str | None],
    tau: float = 0.5,
    lam: float = 1.0,
    groups: Sequence[Hashable] | None = None,
    *,
    workers: int = 1,
) -> list[float]:
    """r_rep(x_i) = λ·|C(i)|/B, C(i) being x_i's BLEU-distance cluster (:func:`cluster_labels` at τ).

    ``groups=None``: the whole list is one scope and B = ``len(texts)`` (R-Zero's batch scope, VisPlay's
    ``batch`` scope). With ``groups`` (one hashable id per text), each distinct id is a scope clustered alone,
    B = its size, members need not be contiguous (R-Zero's ``group`` scope, VisPlay's per-image scope). Output
    in input order. ``None`` texts are ``""``: a singleton that still counts in B. A scope of one item gets λ.
    ``ValueError`` if ``len(groups) != len(texts)``, λ < 0 or τ < 0.
    """
    _check_tau(tau)
    if math.isnan(lam) or lam < 0:
        raise ValueError(f"lam must be a number >= 0, got {lam!r}")
    if groups is None:
        scopes = [list(range(len(texts)))]
    else:
        if len(groups) != len(texts):
            raise ValueError(f"groups has {len(groups)} ids for {len(texts)} texts")
        members: dict[Hashable, list[int]] = {}
        for i, g in enumerate(groups):
            members.setdefault(g, []).append(i)
        scopes = list(members.values())
    penalties = [0.0] * len(texts)
    for scope in scopes:
        distances = bleu_distance_matrix([texts[i] for i in scope], workers=workers)
        for i, share in zip(scope, cluster_shares(distances, tau), strict=True):
            penalties[i] = lam * share
    return penalties


# ----------------------------------------------------------------------------------------------------------
# 3.6 Question reward forms and the keep band

_FORMS = ("paper", "code")


def question_reward(p_hat: float | None, penalty: float, valid: bool, *, form: str = "paper") -> float:
    """The generator's reward for one question, from the solver's majority share p̂ and its penalty.

    ``"paper"``: valid → max(0, :func:`uncertainty_reward`\\ (p̂) − penalty), invalid → 0.0. ``"code"`` (both
    official codes): valid → min(p̂, 1 − p̂) − penalty, unclamped, invalid → −1 − penalty. ``p_hat`` is ignored
    (may be None) when invalid; a valid question with ``p_hat`` None, or an unknown form, is a ``ValueError``.
    """
    if form not in _FORMS:
        raise ValueError(f"form must be one of {_FORMS}, got {form!r}")
    if not valid:
        return 0.0 if form == "paper" else -1.0 - penalty
    if p_hat is None:
        raise ValueError("a valid question needs p_hat")
    if form == "paper":
        return max(0.0, uncertainty_reward(p_hat) - penalty)
    p = _check_p_hat(p_hat)
    return min(p, 1.0 - p) - penalty


def in_band(p_hat: float, low: float = 0.25, high: float = 0.75) -> bool:
    """Whether the majority share p̂ lies in [low, high], both ends inclusive up to 1e-9 (the keep band).

    ``ValueError`` if low > high.
    """
    if low > high:
        raise ValueError(f"low={low} is above high={high}")
    return low - 1e-9 <= p_hat <= high + 1e-9
