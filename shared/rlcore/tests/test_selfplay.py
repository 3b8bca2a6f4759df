"""rlcore.selfplay: exact numbers of spec §11, nltk/sklearn equality, brute-force linkage, workers, errors."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlcore import selfplay
from rlcore.answers import majority_vote
from rlcore.selfplay import (
    Vote,
    bleu_distance_matrix,
    bleu_similarity,
    cluster_labels,
    cluster_shares,
    in_band,
    pseudo_label,
    question_reward,
    repetition_penalties,
    uncertainty_reward,
)

TOL = 1e-6


def nltk_bleu(hypothesis: str, reference: str) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    return float(
        sentence_bleu(
            [reference.split()],
            hypothesis.split(),
            weights=(0.25, 0.25, 0.25, 0.25),
            smoothing_function=SmoothingFunction().method1,
            auto_reweigh=False,
        )
    )


def nltk_distance_matrix(texts: list[str]) -> np.ndarray:
    """The official codes' loop: earlier item = hypothesis, mirrored."""
    d = np.zeros((len(texts), len(texts)))
    for i, j in itertools.combinations(range(len(texts)), 2):
        d[i, j] = d[j, i] = 1.0 - nltk_bleu(texts[i], texts[j])
    return d


def canonical(labels) -> list[int]:
    """Relabel a partition 0, 1, ... in order of each cluster's first item."""
    seen: dict[int, int] = {}
    return [seen.setdefault(int(x), len(seen)) for x in labels]


def brute_force_average_linkage(d: np.ndarray, tau: float) -> list[int]:
    """UPGMA from the definition: merge the closest pair of clusters (mean of all cross distances) while < τ."""
    clusters = [[i] for i in range(len(d))]
    while len(clusters) > 1:
        best, pair = math.inf, None
        for a, b in itertools.combinations(range(len(clusters)), 2):
            avg = float(np.mean(d[np.ix_(clusters[a], clusters[b])]))
            if avg < best:
                best, pair = avg, (a, b)
        if best >= tau:
            break
        a, b = pair
        clusters[a] += clusters.pop(b)
    labels = [0] * len(d)
    for c, members in enumerate(clusters):
        for i in members:
            labels[i] = c
    return canonical(labels)


def random_distances(rng: np.random.Generator, size: int) -> np.ndarray:
    upper = np.triu(rng.random((size, size)), k=1)
    return upper + upper.T


# ---------------------------------------------------------------------------------------------------------
# 3.2 uncertainty reward


@pytest.mark.parametrize(
    ("p_hat", "expected"),
    [(0.5, 1.0), (0.7, 0.6), (0.3, 0.6), (0.9, 0.2), (0.25, 0.5), (1.0, 0.0), (0.0, 0.0)],
)
def test_uncertainty_reward_values(p_hat, expected):
    assert uncertainty_reward(p_hat) == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("p_hat", [math.nan, -0.01, 1.01, math.inf])
def test_uncertainty_reward_rejects_bad_p_hat(p_hat):
    with pytest.raises(ValueError):
        uncertainty_reward(p_hat)


# ---------------------------------------------------------------------------------------------------------
# 3.1 votes


def test_vote_majority_over_all_samples():
    vote = pseudo_label(["4", "4", "5", "4", "6", "5", "4", "4", "7", "5"])
    assert (vote.label, vote.count) == ("4", 5)
    assert vote.p_hat == pytest.approx(0.5, abs=TOL)


def test_vote_tie_goes_to_first_seen():
    assert pseudo_label(["a", "b", "b", "a"]) == Vote("a", 2, 0.5)


def test_vote_missing_answers_count_in_m():
    assert pseudo_label(["2", None, None, "2"]) == Vote("2", 2, 0.5)
    assert pseudo_label([" 2 ", "", "   ", 3, "2"]) == Vote("2", 2, 0.4)


def test_vote_num_samples_and_empty():
    assert pseudo_label(["x", "x"], num_samples=8) == Vote("x", 2, 0.25)
    assert pseudo_label([]) == Vote(None, 0, 0.0)
    assert pseudo_label([None, " "]) == Vote(None, 0, 0.0)
    with pytest.raises(ValueError):
        pseudo_label(["x", "y", "z"], num_samples=2)


def test_vote_custom_match_sees_stripped_present_answers_both_ways():
    seen: list[tuple[str, str]] = []

    def same_parity(a: str, b: str) -> bool:
        seen.append((a, b))
        return int(a) % 2 == int(b) % 2

    vote = pseudo_label([" 1", None, "2", "3 ", "5", "4"], match=same_parity)
    assert vote == Vote("1", 3, 0.5)
    assert all(a == a.strip() and b == b.strip() and a and b for a, b in seen)

    # Only one direction holds: the bucket still joins (match(rep, ans) or match(ans, rep)).
    def prefix(a: str, b: str) -> bool:
        return b.startswith(a)

    assert pseudo_label(["12", "1", "123"], match=prefix) == Vote("12", 3, 1.0)


def test_vote_default_match_is_answers_match():
    assert pseudo_label(["1/2", "0.5", "\\frac{1}{2}", "3"]).count == 3


@pytest.mark.parametrize(
    "answers",
    [
        ["4", "4", "5", "4", "6", "5", "4", "4", "7", "5"],
        ["a", "b", "b", "a"],
        ["2", None, None, "2"],
        [],
        [None, ""],
        ["x", "y", "y"],
    ],
)
def test_majority_vote_is_pseudo_label(answers):
    vote = pseudo_label(answers)
    assert majority_vote(answers) == (vote.label, vote.p_hat)
    eq = str.__eq__
    vote = pseudo_label(answers, match=eq)
    assert majority_vote(answers, match=eq) == (vote.label, vote.p_hat)


# ---------------------------------------------------------------------------------------------------------
# 3.3 BLEU


def test_bleu_precisions_without_brevity_penalty():
    hyp = "What is the sum of the first ten positive integers ?"
    ref = "What is the sum of the first twenty positive integers ?"
    expected = math.exp(0.25 * sum(math.log(p) for p in (10 / 11, 8 / 10, 6 / 9, 4 / 8)))
    assert bleu_similarity(hyp, ref) == pytest.approx(0.701688, abs=TOL)
    assert bleu_similarity(hyp, ref) == pytest.approx(expected, abs=1e-12)


def test_bleu_one_word_changed_in_eight():
    hyp = "how many blue squares are in the picture"
    ref = "how many red squares are in the picture"
    assert bleu_similarity(hyp, ref) == pytest.approx(0.594604, abs=TOL)
    assert bleu_similarity(hyp, ref) == pytest.approx((1 / 8) ** 0.25, abs=1e-12)


def test_bleu_identical_short_texts_score_below_one():
    assert bleu_similarity("a b c", "a b c") == pytest.approx(0.562341, abs=TOL)
    assert bleu_similarity("red square", "red square") == pytest.approx(0.316228, abs=TOL)
    assert bleu_similarity("why", "why") == pytest.approx(0.177828, abs=TOL)
    assert bleu_similarity("a b c d", "a b c d") == 1.0
    # Identical 2-token questions never cluster at τ = 0.5.
    assert cluster_labels(bleu_distance_matrix(["red square", "red square"])) == [0, 1]


def test_bleu_empty_side_is_zero():
    assert bleu_similarity("", "a b c") == 0.0
    assert bleu_similarity("a b c", "") == 0.0
    assert bleu_similarity(None, None) == 0.0
    assert bleu_similarity("   ", "a") == 0.0


def test_bleu_type_errors_name_the_argument():
    with pytest.raises(TypeError, match="hypothesis"):
        bleu_similarity(3, "a")
    with pytest.raises(TypeError, match="reference"):
        bleu_similarity("a", ["a"])
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        bleu_distance_matrix(["a", b"a"])


def test_distance_matrix_orientation_earlier_item_is_hypothesis():
    d = bleu_distance_matrix(["which bar is tallest", "which bar is tallest in this chart"])
    assert d[0][1] == pytest.approx(0.527633, abs=TOL)
    assert d[0][1] == pytest.approx(1 - math.exp(1 - 7 / 4), abs=1e-12)
    assert d[1][0] == d[0][1]
    assert d.dtype == np.float64
    assert d[0][0] == d[1][1] == 0.0
    # Reversed order, the longer text is the hypothesis: no brevity penalty but lower precisions.
    reversed_ = bleu_distance_matrix(["which bar is tallest in this chart", "which bar is tallest"])
    assert reversed_[0][1] == pytest.approx(1 - (4 / 7 * 3 / 6 * 2 / 5 * 1 / 4) ** 0.25, abs=1e-12)


def test_distance_matrix_small_inputs():
    assert bleu_distance_matrix([]).shape == (0, 0)
    assert bleu_distance_matrix(["a b"]).tolist() == [[0.0]]
    with pytest.raises(ValueError):
        bleu_distance_matrix(["a", "b"], workers=0)


def _random_text(rng: random.Random) -> str:
    kind = rng.random()
    vocab = ["the", "sum", "of", "a", "b", "x", "is", "what", "?", "Sum"]
    if kind < 0.08:
        return rng.choice(["", " ", "\n\t"])
    length = rng.randint(1, 3) if kind < 0.3 else rng.randint(4, 30)
    pool = vocab[: rng.randint(2, len(vocab))]  # small pools give many repeated tokens and matches
    return rng.choice([" ", "  ", "\n"]).join(rng.choice(pool) for _ in range(length))


def test_bleu_equals_nltk_on_random_pairs():
    rng = random.Random(1234)
    pairs = []
    for _ in range(1500):
        hyp = _random_text(rng)
        roll = rng.random()
        ref = hyp if roll < 0.1 else " ".join(hyp.split()[::-1]) if roll < 0.2 else _random_text(rng)
        pairs.append((hyp, ref))
    assert sum(h == r for h, r in pairs) >= 100
    assert sum(not h.split() or not r.split() for h, r in pairs) >= 50
    assert sum(0 < len(h.split()) < 4 for h, _ in pairs) >= 200
    worst = max(abs(bleu_similarity(h, r) - nltk_bleu(h, r)) for h, r in pairs)
    assert worst <= 1e-12


def test_distance_matrix_equals_nltk_loop_with_duplicates_and_none():
    rng = random.Random(7)
    texts = [_random_text(rng) for _ in range(40)]
    texts += [texts[3], texts[0], None, "", texts[10], texts[3]]
    rng.shuffle(texts)
    ours = bleu_distance_matrix(texts)
    ref = nltk_distance_matrix(["" if t is None else t for t in texts])
    assert np.max(np.abs(ours - ref)) <= 1e-12
    assert np.array_equal(ours, ours.T)


def test_workers_bitwise_equal_above_pool_threshold(monkeypatch):
    # 205 distinct short texts give 20,910 distinct ordered pairs, just above the 20,000 pool threshold; a few
    # exact copies exercise the mapping from distinct texts back to items.
    rng = random.Random(5)
    words = [f"w{i}" for i in range(12)]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 6))) + f" q{i}" for i in range(205)]
    texts += [texts[7], None, texts[0]]
    serial = bleu_distance_matrix(texts, workers=1)
    contexts: list[str] = []
    get_context = selfplay.multiprocessing.get_context
    monkeypatch.setattr(
        selfplay.multiprocessing, "get_context", lambda method: contexts.append(method) or get_context(method)
    )
    pooled = bleu_distance_matrix(texts, workers=2)
    assert contexts == ["spawn"]  # the pool really ran
    assert serial.tobytes() == pooled.tobytes()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "c", "A"]), max_size=9),
    st.lists(st.sampled_from(["a", "b", "c", "A"]), max_size=9),
)
def test_bleu_property_equals_nltk_and_in_unit_interval(hyp_tokens, ref_tokens):
    hyp, ref = " ".join(hyp_tokens), " ".join(ref_tokens)
    value = bleu_similarity(hyp, ref)
    assert 0.0 <= value <= 1.0
    assert abs(value - nltk_bleu(hyp, ref)) <= 1e-12


# ---------------------------------------------------------------------------------------------------------
# 3.4 linkage


def test_average_linkage_not_single_linkage():
    d = [[0, 0.2, 0.9], [0.2, 0, 0.3], [0.9, 0.3, 0]]
    assert cluster_labels(d) == [0, 0, 1]
    assert cluster_shares(d) == pytest.approx([2 / 3, 2 / 3, 1 / 3], abs=TOL)


def test_average_below_tau_merges_all():
    d = [[0, 0.2, 0.6], [0.2, 0, 0.3], [0.6, 0.3, 0]]
    assert cluster_labels(d) == [0, 0, 0]
    assert cluster_shares(np.asarray(d)) == pytest.approx([1.0, 1.0, 1.0], abs=TOL)


def test_items_at_exactly_tau_stay_apart():
    assert cluster_labels([[0, 0.5], [0.5, 0]], tau=0.5) == [0, 1]
    assert cluster_labels([[0, 0.5], [0.5, 0]], tau=0.5000001) == [0, 0]


def test_labels_follow_first_items_and_small_sizes():
    d = np.array([[0, 0.9, 0.1], [0.9, 0, 0.9], [0.1, 0.9, 0]])
    assert cluster_labels(d) == [0, 1, 0]
    assert cluster_labels([]) == []
    assert cluster_labels(np.zeros((0, 0))) == []
    assert cluster_labels([[0.0]]) == [0]
    assert cluster_shares([]) == []
    assert cluster_shares([[0.0]]) == [1.0]


@pytest.mark.parametrize(
    ("matrix", "tau"),
    [
        ([[0, 1, 2], [1, 0, 3]], 0.5),  # not square
        ([0.0, 1.0], 0.5),  # not a matrix
        ([[0, math.nan], [math.nan, 0]], 0.5),
        ([[0, math.inf], [math.inf, 0]], 0.5),
        ([[0, -0.1], [-0.1, 0]], 0.5),
        ([[0, 0.3], [0.3 + 1e-8, 0]], 0.5),  # asymmetric beyond 1e-9
        ([[0, 0.3], [0.3, 0]], -0.1),
        ([[0, 0.3], [0.3, 0]], math.nan),
    ],
)
def test_cluster_errors(matrix, tau):
    with pytest.raises(ValueError):
        cluster_labels(matrix, tau)
    with pytest.raises(ValueError):
        cluster_shares(matrix, tau)


def test_tiny_asymmetry_is_tolerated():
    assert cluster_labels([[0, 0.3], [0.3 + 1e-12, 0]]) == [0, 0]


def test_partitions_equal_brute_force_and_sklearn():
    from sklearn.cluster import AgglomerativeClustering

    rng = np.random.default_rng(0)
    for _ in range(120):
        size = int(rng.integers(2, 13))
        d = random_distances(rng, size)
        tau = float(rng.uniform(0.2, 0.8))
        ours = cluster_labels(d, tau)
        assert ours == brute_force_average_linkage(d, tau)
        sk = AgglomerativeClustering(
            n_clusters=None, distance_threshold=tau, metric="precomputed", linkage="average"
        ).fit(d)
        assert ours == canonical(sk.labels_)


def test_partition_with_exact_tie_at_tau_equals_sklearn():
    from sklearn.cluster import AgglomerativeClustering

    d = np.array([[0, 0.5, 0.9, 0.9], [0.5, 0, 0.9, 0.9], [0.9, 0.9, 0, 0.25], [0.9, 0.9, 0.25, 0]])
    sk = AgglomerativeClustering(
        n_clusters=None, distance_threshold=0.5, metric="precomputed", linkage="average"
    ).fit(d)
    assert cluster_labels(d, 0.5) == canonical(sk.labels_) == [0, 1, 2, 2]


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 9), st.integers(0, 2**32 - 1), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_partition_property_refines_as_tau_shrinks(size, seed, t1, t2):
    d = random_distances(np.random.default_rng(seed), size)
    low, high = sorted((t1, t2))
    fine, coarse = cluster_labels(d, low), cluster_labels(d, high)
    assert fine == canonical(fine)
    # Every cluster at the lower τ lies inside one cluster at the higher τ.
    assert all(coarse[i] == coarse[j] for i in range(size) for j in range(size) if fine[i] == fine[j])
    shares = cluster_shares(d, high)
    assert sum(shares) == pytest.approx(sum(coarse.count(c) ** 2 for c in set(coarse)) / size)


# ---------------------------------------------------------------------------------------------------------
# 3.5 penalties

QUESTION = "what is the area of a circle whose radius is three meters"
UNRELATED = [
    "how many prime numbers are there below one hundred in total",
    "a train leaves the station at noon traveling at sixty miles per hour",
    "find the derivative of x squared plus seven x minus four",
    "solve for y when two y plus nine equals twenty five today",
    "which integer n makes n factorial end with exactly six zeros",
]


def test_penalties_one_scope_with_a_repeated_question():
    a, b, c, d, e = UNRELATED
    texts = [QUESTION, a, QUESTION, b, c, QUESTION, d, e]
    expected = [3 / 8 if t == QUESTION else 1 / 8 for t in texts]
    assert repetition_penalties(texts) == pytest.approx(expected, abs=TOL)
    assert repetition_penalties(texts, lam=2.0) == pytest.approx([2 * e for e in expected], abs=TOL)


def test_penalties_groups_versus_one_scope():
    dup = "what color is the largest object shown in this image"
    qa = "how many legs does the animal on the left side have"
    qb = "estimate the total number of windows on the front of the building"
    texts = [dup, qa, dup, qb]
    groups = ["A", "A", "B", "B"]
    assert repetition_penalties(texts, groups=groups) == pytest.approx([0.5, 0.5, 0.5, 0.5], abs=TOL)
    assert repetition_penalties(texts) == pytest.approx([0.5, 0.25, 0.5, 0.25], abs=TOL)
    # Non-contiguous groups: the same scopes, interleaved.
    assert repetition_penalties([dup, dup, qa, qb], groups=[1, 2, 1, 2]) == pytest.approx([0.5] * 4, abs=TOL)


def test_penalties_none_is_a_singleton_that_counts_and_lone_scope_gets_lambda():
    assert repetition_penalties([None, None, QUESTION, QUESTION]) == pytest.approx([0.25, 0.25, 0.5, 0.5])
    lone = repetition_penalties([QUESTION, UNRELATED[0]], lam=0.7, groups=["x", "y"])
    assert lone == pytest.approx([0.7, 0.7])
    assert repetition_penalties([]) == []


def test_penalty_errors():
    with pytest.raises(ValueError):
        repetition_penalties(["a", "b"], groups=["g"])
    with pytest.raises(ValueError):
        repetition_penalties(["a", "b"], lam=-1.0)
    with pytest.raises(ValueError):
        repetition_penalties(["a", "b"], tau=-0.5)


# ---------------------------------------------------------------------------------------------------------
# 3.6 question reward and band


@pytest.mark.parametrize(
    ("p_hat", "penalty", "valid", "paper", "code"),
    [(0.35, 0.125, True, 0.575, 0.225), (0.95, 0.25, True, 0.0, -0.2), (None, 0.25, False, 0.0, -1.25)],
)
def test_question_reward_forms(p_hat, penalty, valid, paper, code):
    assert question_reward(p_hat, penalty, valid) == pytest.approx(paper, abs=TOL)
    assert question_reward(p_hat, penalty, valid, form="paper") == pytest.approx(paper, abs=TOL)
    assert question_reward(p_hat, penalty, valid, form="code") == pytest.approx(code, abs=TOL)


def test_question_reward_errors():
    with pytest.raises(ValueError):
        question_reward(None, 0.0, True)
    with pytest.raises(ValueError):
        question_reward(0.5, 0.0, True, form="other")
    with pytest.raises(ValueError):
        question_reward(1.5, 0.0, True, form="code")


def test_in_band():
    assert in_band(0.25) and in_band(0.75) and in_band(0.5)
    assert not in_band(0.24) and not in_band(0.76)
    assert in_band(0.8, 0.3, 0.8)
    assert in_band(0.75 + 5e-10)
    with pytest.raises(ValueError):
        in_band(0.5, 0.8, 0.3)
