"""The arithmetic of the learning filter, apart from the database: per-feature spam
probabilities (Robinson's estimate) combined with Fisher's chi-squared method, as SpamBayes
does, or a Bernoulli naive Bayes on the same counts (kept for the comparison in
``bench/bench_spam.py``). Both only need, per feature, how many ham and spam comments had it.

Chi-squared combining was chosen by measurement (see the README's spam section): on the
YouTube corpora it held fewer legitimate comments at the same catch rate than naive Bayes,
whose probabilities go to 0 or 1 after a few dozen features and so make every threshold
the same, and than naive Bayes with its log-odds normalised by the number of features.
Counts are in comments, weighted (``service.spam.model``: ham nobody reviewed counts half).
Robinson's strength is 2 rather than 1: a feature seen in one or two comments stays near
0.5, which on the corpora held about half as many legitimate comments for the same spam.

**The learned threshold.** Where a score falls for a site's spam and ham depends on the site
(its language, its readers, its spam) and moves as the model learns, so one fixed threshold
held 0 % of the legitimate comments on one replay and 6 % on another. The score each comment
got when it arrived, before it was learned from, is an honest out-of-sample view of the
model. Every learned ham comment adds its arrival score to a histogram (bins of a quarter
of a logit), and the site's threshold in ``auto`` mode is the score that only ``HOLD_RATE``
of those ham arrivals exceeded: the filter holds what looks spammier than about 98.75 % of
the site's own legitimate comments. Until ``MIN_HAM_SCORES`` ham arrivals are known, the
site's fixed threshold applies. On the YouTube collection replayed to one site in eleven
orders (README, "Spam"), this held 0.2-1.7 % of ham with 86.9-92.9 % of spam stopped,
where the fixed 0.95 held 0.2 % in one order and 5.8 % in another.

**The hybrid (the default).** Beside the counts, each bucket holds a linear weight, and
the served score is the mean of the two models' logits: ``hybrid_score``. The linear half
is a passive-aggressive classifier (PA-I, ``LINEAR_C``) over the same presence buckets, the
comment's vector scaled to length 1 (each of its n buckets 1/√n), with no bias (the learned
threshold is the offset). It learns only what the author vouched for: a decision (spam,
approve, restore) and a published comment that stayed published while the author moderated
a later one (``service.spam.model``, "confirmation"). Learning every published comment as
ham broke it: slipped spam got the largest ham steps, and the next copies slipped too
(``docs/spam-research.md``). The weights are integers in units of 2^-24 (``FIXED_ONE``) so
that every update is an exact addition, and a comment's step is kept with it so that
moving it between classes takes out exactly what it put in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MIN_EACH = 20  # comments of each class before the filter holds anything by itself
STRENGTH = 2.0  # Robinson's s: how much a rarely seen feature leans to 0.5
MIN_DISTANCE = 0.1  # features closer than this to 0.5 say nothing
MAX_CLUES = 150
HOLD_RATE = 0.0125  # auto threshold: the share of ham arrival scores allowed above it
MIN_HAM_SCORES = 50  # ham arrival scores before the learned threshold replaces the fixed one
SCORE_SCALE = 4  # histogram bins per logit unit
SCORE_LIMIT = 80  # bins from -80 to 80: logits -20 to 20
FLOOR = 0.5  # the learned threshold never holds what the model thinks is more ham than spam
FIXED_ONE = 1 << 24  # a linear weight of 1, in the integer units the database holds
LINEAR_C = 0.5  # PA-I's aggressiveness: the largest step one comment can take (0.3 until the
# eleventh session; docs/spam-research.md, "C re-chosen")
LINEAR_SCALE = 4.0  # the linear score is sigmoid(LINEAR_SCALE * margin)
LOGIT_CLIP = 1e-9  # each half's probability is kept this far from 0 and 1 before its logit


@dataclass(frozen=True)
class Counts:
    """How many ham and spam comments the filter has learned (``*_docs``: comments, for the
    API and the 20 of each; ``*_weight``: the weighted sum that the per-bucket counts, also
    weighted, are divided by)."""

    ham_docs: int
    spam_docs: int
    per_bucket: dict[int, tuple[float, float]]  # bucket -> (ham, spam), weighted
    ham_weight: float = 0.0
    spam_weight: float = 0.0
    ham_scores: dict[int, int] | None = None  # arrival score bin -> learned ham comments
    weights: dict[int, int] | None = None  # bucket -> linear weight, in units of 1/FIXED_ONE

    @property
    def ready(self) -> bool:
        return self.ham_docs >= MIN_EACH and self.spam_docs >= MIN_EACH


def score_bin(score: float) -> int:
    """The histogram bin of an arrival score: a quarter of a logit, so that 0.99, 0.995 and
    0.999 fall apart where the thresholds are."""
    p = min(max(score, 1e-12), 1.0 - 1e-12)
    logit = math.log(p / (1.0 - p))
    return max(-SCORE_LIMIT, min(SCORE_LIMIT, math.floor(logit * SCORE_SCALE)))


def bin_top(score_bin: int) -> float:
    """The highest score in a bin (its upper edge)."""
    return 1.0 / (1.0 + math.exp(-(score_bin + 1) / SCORE_SCALE))


def learned_threshold(ham_scores: dict[int, int] | None) -> float | None:
    """The score that at most ``HOLD_RATE`` of the learned ham's arrival scores exceeded
    (the upper edge of the bin where that share is reached), or None before
    ``MIN_HAM_SCORES`` of them."""
    if not ham_scores:
        return None
    total = sum(n for n in ham_scores.values() if n > 0)
    if total < MIN_HAM_SCORES:
        return None
    allowed = math.floor(total * HOLD_RATE)
    above = 0
    for score_bin in sorted(ham_scores, reverse=True):
        n = max(ham_scores[score_bin], 0)
        if above + n > allowed:
            return max(FLOOR, min(bin_top(score_bin), 1.0))
        above += n
    return FLOOR


def feature_probability(counts: Counts, bucket: int) -> float | None:
    """Robinson's f(w): the spam probability of one feature, None when never seen."""
    ham, spam = counts.per_bucket.get(bucket, (0, 0))
    ham, spam = max(ham, 0), max(spam, 0)
    seen = ham + spam
    if seen == 0:
        return None
    spam_ratio = spam / max(counts.spam_weight, 1)
    ham_ratio = ham / max(counts.ham_weight, 1)
    p = spam_ratio / (spam_ratio + ham_ratio) if spam_ratio + ham_ratio else 0.5
    return (STRENGTH * 0.5 + seen * p) / (STRENGTH + seen)


def _chi2_survival(x2: float, freedom: int) -> float:
    """P(chi² with ``freedom`` (even) degrees > x2), summed in logs so it cannot underflow."""
    m = x2 / 2.0
    if m <= 0:
        return 1.0
    log_m = math.log(m)
    log_term = -m  # log(e^-m m^i / i!), term by term
    terms = [log_term]
    for i in range(1, freedom // 2):
        log_term += log_m - math.log(i)
        terms.append(log_term)
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def clues(counts: Counts, buckets: Iterable[int]) -> list[tuple[int, float]]:
    """The buckets that say something, strongest first: (bucket, f(w))."""
    found = []
    for bucket in buckets:
        f = feature_probability(counts, bucket)
        if f is not None and abs(f - 0.5) >= MIN_DISTANCE:
            found.append((bucket, min(max(f, 0.01), 0.99)))
    found.sort(key=lambda item: -abs(item[1] - 0.5))
    return found[:MAX_CLUES]


def chi2_score(counts: Counts, buckets: Iterable[int]) -> float:
    """Fisher's combining of the clues: near 1 spam, near 0 ham, 0.5 when unsure."""
    strong = clues(counts, buckets)
    if not strong:
        return 0.5
    n = len(strong)
    spam_side = sum(math.log(1.0 - f) for _, f in strong)
    ham_side = sum(math.log(f) for _, f in strong)
    s = 1.0 - _chi2_survival(-2.0 * spam_side, 2 * n)
    h = 1.0 - _chi2_survival(-2.0 * ham_side, 2 * n)
    return (s - h + 1.0) / 2.0


def bayes_score(counts: Counts, buckets: Iterable[int], alpha: float = 1.0) -> float:
    """Bernoulli naive Bayes over the features present (the alternative measured)."""
    n_spam, n_ham = counts.spam_weight, counts.ham_weight
    log_odds = math.log((n_spam + alpha) / (n_ham + alpha))
    for bucket in buckets:
        ham, spam = counts.per_bucket.get(bucket, (0, 0))
        if ham + spam <= 0:
            continue
        log_odds += math.log((max(spam, 0) + alpha) / (n_spam + 2 * alpha))
        log_odds -= math.log((max(ham, 0) + alpha) / (n_ham + 2 * alpha))
    if log_odds > 40:
        return 1.0
    return 1.0 / (1.0 + math.exp(-log_odds))


def unit_norm(size: int) -> float:
    """Each bucket's value in a comment's vector of ``size`` buckets: its length is 1."""
    return 1.0 / math.sqrt(max(size, 1))


def bucket_units(step: float, size: int) -> int:
    """What a comment of ``size`` buckets learned with ``step`` adds to each of its buckets'
    weights, in units of 1/FIXED_ONE: recomputed, not stored, when it is un-learned."""
    return round(step * FIXED_ONE * unit_norm(size))


def margin(weights: dict[int, int], buckets: Sequence[int], step: float | None = None) -> float:
    """The linear model's margin for a comment (positive: spam), leaving out what its own
    stored ``step`` (if any) put in the weights."""
    v = unit_norm(len(buckets))
    total = sum(weights.get(b, 0) for b in buckets)
    found = v * (total / FIXED_ONE)
    if step:
        found -= len(buckets) * v * bucket_units(step, len(buckets)) / FIXED_ONE
    return found


def pa_step(label: str, found_margin: float) -> float:
    """PA-I's step for a comment learned as ``label`` (``spam``: +, else -) at this margin:
    nothing when it is already on its side by 1, at most ``LINEAR_C`` (|x| = 1)."""
    y = 1.0 if label == "spam" else -1.0
    loss = max(0.0, 1.0 - y * found_margin)
    return y * min(LINEAR_C, loss)


def linear_score(found_margin: float) -> float:
    z = max(-40.0, min(40.0, LINEAR_SCALE * found_margin))
    return 1.0 / (1.0 + math.exp(-z))


def logit(p: float) -> float:
    p = min(max(p, LOGIT_CLIP), 1.0 - LOGIT_CLIP)
    return math.log(p / (1.0 - p))


def mean_logit(first: float, second: float) -> float:
    """The hybrid's combining: the mean of the two halves' logits (the mean of their
    probabilities ranked worse on the tuned replays)."""
    z = (logit(first) + logit(second)) / 2
    return 1.0 / (1.0 + math.exp(-z))


def hybrid_score(counts: Counts, buckets: Sequence[int]) -> float:
    """chi2 on the counts and the linear model on the weights, their logits averaged."""
    linear = linear_score(margin(counts.weights or {}, buckets))
    return mean_logit(chi2_score(counts, buckets), linear)


def linear_push(weight: int, size: int) -> float:
    """What one bucket's weight adds to the linear half's logit for a comment of ``size``
    buckets (positive: towards spam): what the author is shown beside chi2's probability."""
    return LINEAR_SCALE * unit_norm(size) * weight / FIXED_ONE


METHODS = {"chi2": chi2_score, "bayes": bayes_score, "hybrid": hybrid_score}
