"""Ranking experiments for small sites, over ``spam_sim.py`` (docs/spam-research.md, "Small
sites: can the features or the model rank better?").

Each candidate is the service's hybrid (``hyb-l-confirm``: chi2 beside PA-I with C =
``scoring.LINEAR_C``, 0.5; 0.3 until the eleventh session, so ``c=0.3`` replays the earlier tables,
confirmation, the mean of logits, the learned threshold) with one or more changes, given as
``key=value,...`` (the fields of ``Candidate``; an empty spec is the service):

- features: ``features=base+KINDS`` adds token classes to ``comment_features`` (``c`` ALL-CAPS
  words, ``d`` the longest digit run, ``e`` symbols such as emoji and hearts, ``p`` repeated
  punctuation and exclamation marks, ``u`` domain names written without a link and the
  links' first path segment, ``n`` the name's shape); ``features=drop-g`` (or ``-p``, ``-w``)
  leaves out a family; ``buckets=N`` hashes into N buckets; ``gw=w:2/p:2`` weighs feature
  families in the linear half (``k``: the kind features, ``links:``, ``len:``, ...);
- the linear half: ``c`` (PA-I's C), ``scale``, ``avg`` (1: scored with averaged weights,
  0.5: halfway), ``balance=1`` (C per class scaled by the other class's share),
  ``revisit=R`` (each moderation recomputes the stored step of R learned comments, round
  robin: PA-I's step at the margin without the comment's own step is dual coordinate
  descent's update, so this converges to the linear SVM of the learned comments), ``loo=1``
  (with revisit: a revisited ham comment's histogram entry becomes its leave-one-out score);
- the combination and chi2: ``a`` (chi2's share of the logit), ``strength``,
  ``min_distance``, ``max_clues``;
- the threshold (sixth session): ``rn=N`` sets it at each moderation from the last N
  published or approved comments scored leave-one-out by the current model (their own counts
  and linear step out): the logit with a share ``rq`` of them above it (or, with ``rsd``, their
  mean plus ``rsd`` standard deviations), plus ``radd`` logits, plus ``rgap`` of the way to the
  lowest re-scored marked spam above it, at least ``rfloor``; the learned threshold until
  ``rmin`` are re-scored; ``rmix`` mixes in that share of the learned threshold's logit;
  ``rmax=1`` keeps the higher of the two (the rescored one only raises the learned one).

    python bench/spam_rank.py tuned '' 'c=3' 'features=base+u'   # the tuned rows, summarized
    python bench/spam_rank.py tuned --rows 'c=3'                  # every tuned row
    python bench/spam_rank.py paired --base '' 'c=3'              # differences per replay
    python bench/spam_rank.py heldout --unseen /tmp/unseen3.csv '' 'c=3'   # once, at the end
    python bench/spam_rank.py pooled                              # small sites started from others

``pooled`` (eleventh session; not the service): each YouTube file as a site that first
learned other comments as if they were its own, every one moderated as labelled (the other
four files, or the SMS file), then the protocol on the file; with the learned threshold's
histogram pooled too or only the site's own arrivals. What an instance-wide model would
give a young site, at best (the other files are the same kind of spam).

Tuned rows: the YouTube files as one site (file order, seeds 100-104) and small sites, each
of Psy and Katy Perry alone, in file order and shuffled with seeds 1-15 (``--shuffles``).
Held-out rows: seeds 200-204 and 300-311, LMFAO, Eminem and Shakira alone (file order),
the five files as five sites (pooled), SMS, and the unseen videos.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

import spam_sim as sim
from bench_spam import DATA, Item, read_corpus

from service.comments.guards import MAX_LINKS
from service.comments.markup import count_html_links, render_comment
from service.spam import scoring
from service.spam.features import comment_features
from service.spam.text import rendered_text

# ------------------------------------------------------------------------------ features

_CAPS = re.compile(r"\b[A-Z]{2,}\b")
_DIGIT_RUN = re.compile(r"\d+")
_REPEATED = re.compile(r"([!?.*♥])\1{2,}")
_BARE_DOMAIN = re.compile(r"\b[\w-]+\.(?:com|net|org|info|biz|ly|tk|co|me|tv|us)\b", re.I)
_LINK_PATH = re.compile(r'href="https?://[^/"]+/([^/"?#]*)')
_KINDS = {"links", "web", "name", "mail", "len", "latin"}


def token_classes(body_html: str, author: str | None, kinds: str) -> list[str]:
    """The token-class features named by ``kinds`` (see the module's doc)."""
    raw = rendered_text(body_html)  # before case folding: ALL-CAPS is a signal
    found = []
    if "c" in kinds:
        found.append(f"x:caps:{min(len(_CAPS.findall(raw)), 4)}")
    if "d" in kinds:
        longest = max((len(run) for run in _DIGIT_RUN.findall(raw)), default=0)
        found.append(f"x:digits:{min(longest, 8)}")
    if "e" in kinds:
        symbols = sum(1 for ch in raw if unicodedata.category(ch) == "So")
        found.append(f"x:symbols:{min(symbols, 4)}")
    if "p" in kinds:
        found.append("x:repeated:" + ("yes" if _REPEATED.search(raw) else "no"))
        found.append(f"x:exclaim:{min(raw.count('!'), 3)}")
    if "u" in kinds:
        found.append(f"x:bare-domain:{min(len(_BARE_DOMAIN.findall(raw)), 2)}")
        found += ["x:path:" + path.lower()[:20] for path in _LINK_PATH.findall(body_html)]
    if "n" in kinds:
        shape = "".join(
            "A" if ch.isupper() else "a" if ch.islower() else "9" if ch.isdigit() else "_"
            for ch in author or ""
        )
        found.append("x:name-shape:" + (re.sub(r"(.)\1+", r"\1", shape)[:8] or "none"))
    return found


_FAMILY_PREFIX = {"w": "w:", "p": "p:", "g": "g:"}


def named_features(spec: str, body_html: str, author: str | None) -> list[str]:
    """``comment_features`` as posting calls it (no website, no e-mail), changed by ``spec``."""
    found = comment_features(body_html, author, None, False)
    if spec.startswith("drop-"):
        dropped = tuple(_FAMILY_PREFIX[k] for k in spec.removeprefix("drop-"))
        found = [f for f in found if not f.startswith(dropped)]
    if "+" in spec:
        found += token_classes(body_html, author, spec.split("+", 1)[1])
    return found


def family(feature: str) -> str:
    name = feature.split(":", 1)[0]
    return "k" if name in _KINDS else name


_PREPARED: dict[tuple[str, int, str, str | None], tuple[tuple[int, ...], bool]] = {}
# (bucket count, bucket) -> the family of the first feature seen in it, for ``gw``
FAMILY_OF: dict[tuple[int, int], str] = {}


def prepare(items: list[Item], spec: str, size: int) -> list[sim.Prepared]:
    """``spam_sim.prepare`` with the features of ``spec`` hashed into ``size`` buckets."""
    out = []
    for item in items:
        key = (spec, size, item.body, item.author)
        if key not in _PREPARED:
            body_html = render_comment(item.body.strip())
            author = (item.author or "").strip() or None
            found: set[int] = set()
            for feature in named_features(spec, body_html, author):
                b = zlib.crc32(feature.encode()) % size
                FAMILY_OF.setdefault((size, b), family(feature))
                found.add(b)
            _PREPARED[key] = (tuple(sorted(found)), count_html_links(body_html) > MAX_LINKS)
        wanted, many = _PREPARED[key]
        out.append(sim.Prepared(item.spam, wanted, many))
    return out


# ------------------------------------------------------------------------------ models


@dataclass(frozen=True)
class Candidate:
    features: str = "base"
    buckets: int = 1 << 18
    c: float = scoring.LINEAR_C
    scale: float = 4.0
    avg: float = 0.0
    balance: float = 0.0
    gw: str = ""
    revisit: int = 0
    loo: float = 0.0
    a: float = 0.5
    strength: float = 2.0
    min_distance: float = 0.1
    max_clues: int = 150
    # the rescored threshold (rn > 0): at each moderation the last ``rn`` published or
    # approved comments are scored leave-one-out by the current model; the threshold is the
    # logit of the one with ``rq`` of them above it, plus ``radd`` logits, plus ``rgap`` of
    # the way to the lowest rescored spam (the last ``rn`` marked) above it; at least
    # ``rfloor``; the learned threshold while fewer than ``rmin`` are rescored
    rn: int = 0
    rq: float = 0.0125
    radd: float = 0.0
    rgap: float = 0.0
    rfloor: float = 0.5
    rmin: int = 50
    rsd: float = 0.0  # > 0: the threshold at mean + rsd standard deviations of those logits
    rmix: float = 0.0  # the share of the learned threshold's logit mixed in (0: none)
    rmax: float = 0.0  # 1: the rescored threshold only raises the learned one (a guard)

    @classmethod
    def parse(cls, spec: str) -> Candidate:
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, object] = {}
        for pair in filter(None, spec.split(",")):
            key, _, raw = pair.partition("=")
            kind = types[key]
            values[key] = raw if kind == "str" else int(raw) if kind == "int" else float(raw)
        return cls(**values)  # type: ignore[arg-type]

    def label(self) -> str:
        default = Candidate()
        changed = [
            f"{f.name}={getattr(self, f.name)}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        ]
        return ",".join(changed) or "service (hyb-l-confirm)"

    def family_weights(self) -> dict[str, float]:
        pairs = (p.split(":") for p in filter(None, self.gw.split("/")))
        return {name: float(weight) for name, weight in pairs}


class RankLinear(sim.Linear):
    """The service's PA-I with float weights over weighted vectors (x_b = g_b / |g|, g_b the
    weight of the bucket's feature family), scored with weights averaged over the updates
    (w - u/c) as far as ``avg`` says, and with C per class scaled by ``balance``."""

    def __init__(self, settings: sim.LinearSettings, candidate: Candidate) -> None:
        super().__init__(settings)
        self.candidate = candidate
        self.weights = candidate.family_weights()
        self.u: dict[int, float] = {}
        self.updates = 1
        self.learned = {"spam": 0, "ham": 0}

    def _x(self, comment: sim.Comment) -> list[tuple[int, float]]:
        size = self.candidate.buckets
        g = [self.weights.get(FAMILY_OF.get((size, b), ""), 1.0) for b in comment.buckets]
        norm = math.sqrt(sum(v * v for v in g)) or 1.0
        return [(b, v / norm) for b, v in zip(comment.buckets, g, strict=True) if v]

    def margin(self, comment: sim.Comment) -> float:
        return sum(self.w.get(b, 0.0) * v for b, v in self._x(comment))

    def _own(self, comment: sim.Comment, step: float) -> float:
        return step  # |x| = 1

    def score(self, comment: sim.Comment) -> float | None:
        found = self.margin(comment)
        if self.candidate.avg:
            averaged = found - sum(self.u.get(b, 0.0) * v for b, v in self._x(comment)) / (
                self.updates
            )
            found = self.candidate.avg * averaged + (1 - self.candidate.avg) * found
        z = max(-40.0, min(40.0, self.s.scale * found))
        return 1.0 / (1.0 + math.exp(-z))

    def _add(self, comment: sim.Comment, old_step: float, new_step: float) -> None:
        if old_step == new_step:
            return
        step = new_step - old_step
        for b, v in self._x(comment):
            self.w[b] = self.w.get(b, 0.0) + step * v
            self.u[b] = self.u.get(b, 0.0) + self.updates * step * v
        self.updates += 1

    def _step(self, comment: sim.Comment, label: str, margin: float) -> float:
        if not self.candidate.balance:
            return super()._step(comment, label, margin)
        if label == "ham" and not comment.confirmed:
            return 0.0
        y = 1.0 if label == "spam" else -1.0
        total = self.learned["spam"] + self.learned["ham"]
        other = self.learned["ham" if y > 0 else "spam"]
        share = other / total if total else 0.5
        self.learned["spam" if y > 0 else "ham"] += 1
        c = self.s.c * 2 * min(max(share, 0.1), 0.9)
        return y * min(c, max(0.0, 1.0 - y * margin))


class RankSite(sim.Site):
    """``spam_sim.Site`` whose every moderation then revisits ``revisit`` learned comments
    (decisions and confirmed ham), round robin in arrival order: their linear steps are
    recomputed at the current weights, and with ``loo`` a ham comment's histogram entry
    moves to its leave-one-out score (the hybrid's score with its own counts and step out)."""

    revisit = 0
    loo = 0.0
    candidate = Candidate()

    def __init__(self, variant: sim.Variant) -> None:
        super().__init__(variant)
        self.cursor = -1
        self.stored: float | None = None  # the rescored threshold, set by moderation

    def threshold(self) -> float | None:
        learned = super().threshold()
        if self.stored is None:
            return learned
        if self.candidate.rmax and learned is not None:
            return max(self.stored, learned)
        return self.stored

    def moderate(self, comment: sim.Comment, action: str) -> None:
        super().moderate(comment, action)
        self._revisit()
        if self.candidate.rn:
            self.stored = self._rescored_threshold()

    def _loo_logit(self, comment: sim.Comment) -> float | None:
        """The hybrid's logit for a learned comment with its own counts and step taken out."""
        found = self._loo_score(comment)
        return None if found is None else sim._logit(found)

    def _loo_score(self, comment: sim.Comment) -> float | None:
        """The hybrid's score for a learned comment with its own counts and step taken out."""
        parts: dict[str, float | None] = {}
        for component in self.components:
            if isinstance(component, sim.Chi2Counts):
                component.move(comment, comment.label, None)
                parts[component.name] = component.score(comment)
                component.move(comment, None, comment.label)
            elif isinstance(component, sim.Linear):
                own = component._own(comment, comment.steps.get(component.name, 0.0))
                z = component.s.scale * (component.margin(comment) - own)
                parts[component.name] = 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))
        return self.combine(parts)

    def _rescored_threshold(self) -> float | None:
        c = self.candidate
        if not (self.ham_docs and self.spam_docs):
            return None
        ham: list[sim.Comment] = []
        spam: list[sim.Comment] = []
        for other in reversed(self.comments):
            if other.label in ("ham", "good") and len(ham) < c.rn:
                ham.append(other)
            elif other.label == "spam" and len(spam) < c.rn and c.rgap:
                spam.append(other)
            if len(ham) >= c.rn and (len(spam) >= c.rn or not c.rgap):
                break
        if len(ham) < c.rmin:
            return None
        ham_logits = sorted((x for x in map(self._loo_logit, ham) if x is not None), reverse=True)
        if not ham_logits:
            return None
        k = min(math.floor(c.rq * len(ham_logits)), len(ham_logits) - 1)
        t = ham_logits[k]
        if c.rsd:
            mean = sum(ham_logits) / len(ham_logits)
            spread = sum((x - mean) ** 2 for x in ham_logits) / max(len(ham_logits) - 1, 1)
            t = mean + c.rsd * math.sqrt(spread)
        if c.rgap:
            above = [x for x in map(self._loo_logit, spam) if x is not None and x > t]
            if above:
                t += c.rgap * (min(above) - t)
        t += c.radd
        learned = scoring.learned_threshold(self.ham_scores) if c.rmix else None
        if learned is not None:
            t = (1 - c.rmix) * t + c.rmix * sim._logit(learned)
        return max(c.rfloor, 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, t)))))

    def _revisit(self) -> None:
        if not self.revisit:
            return
        learned = [
            (i, c)
            for i, c in enumerate(self.comments)
            if c.label in ("good", "spam") or (c.label == "ham" and c.confirmed)
        ]
        due = [p for p in learned if p[0] > self.cursor] + [
            p for p in learned if p[0] <= self.cursor
        ]
        for i, c in due[: self.revisit]:
            for component in self.components:
                if isinstance(component, sim.Linear):
                    component.move(c, c.label, c.label)
            self.cursor = i
            if self.loo and c.label in ("ham", "good") and c.arrival is not None:
                self._rescore(c)

    def _rescore(self, comment: sim.Comment) -> None:
        new = self._loo_score(comment)
        if new is None or comment.arrival is None:
            return
        old_bin, new_bin = scoring.score_bin(comment.arrival), scoring.score_bin(new)
        self.ham_scores[old_bin] -= 1
        self.ham_scores[new_bin] = self.ham_scores.get(new_bin, 0) + 1
        comment.arrival = new


def variant(candidate: Candidate) -> sim.Variant:
    settings = sim.LinearSettings(
        rule="pa", c=candidate.c, published=0, confirm=1, scale=candidate.scale
    )
    plain = not (candidate.avg or candidate.gw or candidate.balance)

    def components() -> list[sim.Component]:
        linear = sim.Linear(settings) if plain else RankLinear(settings, candidate)
        return [sim.Chi2Counts(), linear]

    def combine(parts: dict[str, float | None]) -> float | None:
        chi2, linear = parts["chi2"], parts["linear"]
        if chi2 is None or linear is None:
            return None
        z = candidate.a * sim._logit(chi2) + (1 - candidate.a) * sim._logit(linear)
        return 1.0 / (1.0 + math.exp(-z))

    return sim.Variant(candidate.label(), components, combine)


@contextmanager
def chi2_settings(candidate: Candidate) -> Iterator[None]:
    saved = scoring.STRENGTH, scoring.MIN_DISTANCE, scoring.MAX_CLUES
    scoring.STRENGTH = candidate.strength
    scoring.MIN_DISTANCE = candidate.min_distance
    scoring.MAX_CLUES = candidate.max_clues
    try:
        yield
    finally:
        scoring.STRENGTH, scoring.MIN_DISTANCE, scoring.MAX_CLUES = saved


# ------------------------------------------------------------------------------ settings

Case = tuple[str, list[list[Item]]]  # a row's name, its sites (pooled)
FILES = sorted((DATA / "youtube").glob("*.csv"))


def per_file() -> dict[str, list[Item]]:
    return {p.stem.split("-", 1)[1]: read_corpus(p) for p in FILES}


def reordered(items: list[Item], seed: int) -> list[Item]:
    copy = items[:]
    random.Random(seed).shuffle(copy)
    return copy


def tuned_cases(shuffles: int) -> tuple[list[Case], list[Case]]:
    """The one-site rows tuned on before (file order, seeds 100-104), and the small sites
    designated for tuning here: Psy and Katy Perry alone, in file order and shuffled."""
    files = per_file()
    together = [item for items in files.values() for item in items]
    big = [("order", [together])]
    big += [(f"s{seed}", [reordered(together, seed)]) for seed in range(100, 105)]
    small = []
    for name in ("Psy", "KatyPerry"):
        small.append((name, [files[name]]))
        small += [
            (f"{name}~{seed}", [reordered(files[name], seed)]) for seed in range(1, shuffles + 1)
        ]
    return big, small


def heldout_cases(unseen: Path | None) -> list[Case]:
    files = per_file()
    together = [item for items in files.values() for item in items]
    cases = [(f"s{seed}", [reordered(together, seed)]) for seed in range(200, 205)]
    cases += [(f"s{seed}", [reordered(together, seed)]) for seed in range(300, 312)]
    cases += [(name, [files[name]]) for name in ("LMFAO", "Eminem", "Shakira")]
    cases.append(("per-file pooled", list(files.values())))
    cases.append(("SMS", [read_corpus(DATA / "sms" / "sms_spam_collection_first2000.csv")]))
    if unseen is not None:
        cases.append(("unseen", [read_corpus(unseen)]))
    return cases


Row = tuple[str, float, float, float]  # name, spam stopped %, ham held %, ranking at 2 %


def run(candidate: Candidate, cases: list[Case]) -> list[Row]:
    chosen = variant(candidate)
    RankSite.revisit, RankSite.loo = candidate.revisit, candidate.loo
    RankSite.candidate = candidate
    site_class = RankSite if candidate.revisit or candidate.rn else None
    rows = []
    with chi2_settings(candidate):
        for name, sites in cases:
            spam = ham = spam_held = ham_held = 0
            ranked = 0.0
            for items in sites:
                prepared = prepare(items, candidate.features, candidate.buckets)
                result = sim.replay(chosen, prepared, site_class=site_class)
                spam, ham = spam + result["spam"], ham + result["ham"]
                spam_held += result["spam_held"]
                ham_held += result["ham_held"]
                links = (result["links_spam"], result["links_ham"])
                best = sim.best_catch(result["arrivals"], links, result["ham"])
                ranked += best * result["spam"]
            rows.append(
                (
                    name,
                    100.0 * spam_held / max(spam, 1),
                    100.0 * ham_held / max(ham, 1),
                    ranked / max(spam, 1),
                )
            )
    return rows


def pooled_rows(candidate: Candidate) -> None:
    """Each YouTube file alone, and started from other comments learned first (``pooled``)."""
    files = per_file()
    chosen = variant(candidate)
    sms = read_corpus(DATA / "sms" / "sms_spam_collection_first2000.csv")

    def started(prior: list[Item], own_histogram: bool) -> Callable[[sim.Variant], sim.Site]:
        def make(v: sim.Variant) -> sim.Site:
            site = sim.Site(v)
            sim.moderated(site, prepare(prior, candidate.features, candidate.buckets))
            if own_histogram:
                site.ham_scores = {}
            return site

        return make

    with chi2_settings(candidate):
        for name, items in files.items():
            others = [i for other, its in files.items() if other != name for i in its]
            starts = {
                "alone": None,
                "four others first": started(others, False),
                "four others, own histogram": started(others, True),
                "SMS first, own histogram": started(sms, True),
            }
            cells = []
            for label, make in starts.items():
                prepared = prepare(items, candidate.features, candidate.buckets)
                found = sim.replay(chosen, prepared, site_class=make)
                stopped = 100.0 * found["spam_held"] / max(found["spam"], 1)
                held = 100.0 * found["ham_held"] / max(found["ham"], 1)
                mark = "✓" if passes((name, stopped, held, 0.0)) else " "
                cells.append(f"{label} {stopped:5.1f} / {held:4.1f} {mark}")
            print(f"    {name:<10}" + "   ".join(cells), flush=True)


def passes(row: Row) -> bool:
    return row[1] >= 90.0 and row[2] <= 2.0


def summary(rows: list[Row]) -> str:
    n = len(rows)
    return (
        f"{sum(map(passes, rows))}/{n} pass, stopped {min(r[1] for r in rows):.1f}-"
        f"{max(r[1] for r in rows):.1f} (mean {sum(r[1] for r in rows) / n:.1f}), held up to "
        f"{max(r[2] for r in rows):.1f} (mean {sum(r[2] for r in rows) / n:.1f}), ranking "
        f"{sum(r[3] for r in rows) / n:.1f} (>= 90 in {sum(r[3] >= 90.0 for r in rows)}/{n}: "
        "the best threshold would pass them)"
    )


def print_rows(rows: list[Row]) -> None:
    for name, stopped, held, ranked in rows:
        mark = "PASS" if passes((name, stopped, held, ranked)) else "    "
        print(f"    {name:<18}{stopped:6.1f} / {held:4.1f}  {mark}  (ranking {ranked:5.1f})")


def mean_and_error(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    spread = sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1)
    return mean, math.sqrt(spread / len(values))


def paired(base: list[Row], rows: list[Row]) -> str:
    """Mean per-replay differences from ``base`` (± standard error): ranking, stopped, held."""
    parts = []
    for i, label in ((3, "ranking"), (1, "stopped"), (2, "held")):
        mean, error = mean_and_error([r[i] - b[i] for r, b in zip(rows, base, strict=True)])
        parts.append(f"{label} {mean:+.2f} ± {error:.2f}")
    return ", ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("tuned", "paired", "heldout", "pooled"))
    parser.add_argument("candidates", nargs="*", default=[""])
    parser.add_argument("--shuffles", type=int, default=15, help="small tuned replays per file")
    parser.add_argument("--rows", action="store_true", help="print every row")
    parser.add_argument("--base", default="", help="paired: the candidate compared with")
    parser.add_argument("--unseen", type=Path, help="heldout: the unseen videos' CSV")
    args = parser.parse_intermixed_args()
    chosen = [Candidate.parse(spec) for spec in args.candidates]
    if args.mode == "pooled":
        for candidate in chosen:
            print(f"== {candidate.label()}", flush=True)
            pooled_rows(candidate)
        return 0
    if args.mode == "heldout":
        cases = heldout_cases(args.unseen)
        for candidate in chosen:
            print(f"== {candidate.label()}", flush=True)
            print_rows(run(candidate, cases))
        return 0
    big, small = tuned_cases(args.shuffles)
    if args.mode == "paired":
        base = Candidate.parse(args.base)
        base_big, base_small = run(base, big), run(base, small)
        print(f"differences from {base.label()} (big: {len(big)} rows, small: {len(small)})")
    for candidate in chosen:
        rows_big, rows_small = run(candidate, big), run(candidate, small)
        print(f"== {candidate.label()}", flush=True)
        if args.mode == "paired":
            print(f"    big:   {paired(base_big, rows_big)}")
            print(f"    small: {paired(base_small, rows_small)}", flush=True)
            continue
        print(f"    big:   {summary(rows_big)}")
        print(f"    small: {summary(rows_small)}", flush=True)
        if args.rows:
            print_rows(rows_big + rows_small)
    return 0


if __name__ == "__main__":
    sys.exit(main())
