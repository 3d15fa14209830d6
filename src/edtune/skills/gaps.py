"""Skill-gap normalisation: merge near-duplicate missing-skill names across a round's MistakeReports.

The teacher names one missing skill per wrong sample, in free text, so the same gap arrives as "colour
recognition", "Color recognition." and "recognising colours". Counting them apart would split the budget and
the BM25 query. We merge in two steps: a string normal form (case, punctuation, whitespace, British →
American spelling), then one of:
- the teacher's grouping (`groups`, asked by the diagnose stage: `edtune.teacher.grouping`), the default: names
  in one teacher group are one gap. Paraphrases of one skill share few words and a sentence embedding puts some
  of them closer to another skill's paraphrase than to each other (measured: "horizontal position of objects"
  vs "vertical position of objects" 0.86, vs "left/right localisation" 0.29), so no threshold separates them;
- without a grouping, greedy clustering of the distinct normal forms by embedding cosine similarity
  ≥ `threshold` (config `teacher.skill_merge_threshold`, default 0.85), in a fixed order (count desc, then
  name), so the result is deterministic.
Every merge is logged.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from edtune.log import kv
from edtune.schemas import MistakeReport, SkillGap
from edtune.skills.embed import Embedder

log = logging.getLogger(__name__)

# Spelling variants that an embedding may or may not bring together; cheap and exact to fold first.
_SPELLING = {
    "colour": "color",
    "colours": "colors",
    "coloured": "colored",
    "grey": "gray",
    "centre": "center",
    "centres": "centers",
    "recognise": "recognize",
    "recognising": "recognizing",
    "recognised": "recognized",
    "recognition": "recognition",
    "analyse": "analyze",
    "analysing": "analyzing",
    "organise": "organize",
    "categorise": "categorize",
    "categorising": "categorizing",
    "metre": "meter",
    "metres": "meters",
}


def normalise(name: str) -> str:
    """Lower case, punctuation to spaces, collapsed whitespace, American spelling."""
    text = re.sub(r"[^\w\s/-]+", " ", name.lower()).replace("_", " ")
    text = re.sub(r"[-/]+", " ", text)
    return " ".join(_SPELLING.get(w, w) for w in text.split())


@dataclass
class _Cluster:
    rep: str  # normal form of the representative
    members: list[str] = field(default_factory=list)  # normal forms


def merge_gaps(
    reports: Sequence[MistakeReport],
    *,
    threshold: float,
    embedder: Embedder | None,
    groups: Sequence[Sequence[str]] | None = None,
) -> list[SkillGap]:
    """Merge the missing skills of diagnosed reports into SkillGaps sorted by count desc (then name).

    `count` is the number of reports blaming the gap (a report naming two variants of one gap counts once);
    `examples` are those reports' sample ids in input order; `skill` is the most frequent surface form
    (ties: one already in normal form, then alphabetical), `aliases` the other forms merged into it (so
    BM25, which neither stems nor folds spelling, still matches "colour" tags for a "color" gap),
    `description` its first non-empty description. `groups` (surface names) merge by the teacher's grouping
    instead of the embedding; names it does not list stay apart. `embedder=None` (and no groups) merges by
    the string normal form only.
    """
    surface: dict[str, Counter[str]] = {}  # normal form -> surface form counts
    descs: dict[str, str] = {}  # surface form -> first non-empty description
    uses: list[tuple[str, str]] = []  # (sample_id, normal form), input order
    for rep in reports:
        if rep.status != "diagnosed":
            continue
        for ms in rep.missing_skills:
            raw = " ".join(ms.name.split())
            norm = normalise(raw)
            if not norm:
                continue
            surface.setdefault(norm, Counter())[raw] += 1
            if ms.description and raw not in descs:
                descs[raw] = ms.description
            uses.append((rep.sample_id, norm))
    if not uses:
        return []
    norm_count = Counter(n for _, n in uses)
    order = sorted(norm_count, key=lambda n: (-norm_count[n], n))
    if groups is not None:
        clusters = _cluster_by_groups(order, groups)
    else:
        clusters = _cluster(order, threshold, embedder)
    owner = {m: c for c in clusters for m in c.members}

    gaps: list[SkillGap] = []
    for c in clusters:
        forms: Counter[str] = Counter()
        for m in c.members:
            forms.update(surface[m])
        # most frequent; ties → a form already in normal form ("counting objects" over "Counting objects.")
        name = sorted(forms, key=lambda f: (-forms[f], f != normalise(f), f))[0]
        aliases = sorted(f for f in forms if f != name)
        examples: list[str] = []
        for sid, norm in uses:
            if owner[norm] is c and sid not in examples:
                examples.append(sid)
        desc = descs.get(name) or next((descs[f] for f in sorted(forms) if f in descs), "")
        if len(forms) > 1:
            log.info(kv("skill_merge", into=repr(name), merged=repr(sorted(forms)), count=len(examples)))
        gaps.append(
            SkillGap(skill=name, description=desc, count=len(examples), examples=examples, aliases=aliases)
        )
    gaps.sort(key=lambda g: (-g.count, g.skill))
    return gaps


def _cluster_by_groups(order: list[str], groups: Sequence[Sequence[str]]) -> list[_Cluster]:
    """Normal forms named in one teacher group share a cluster (in `order`: the first member represents it)."""
    group_of: dict[str, int] = {}
    for gi, names in enumerate(groups):
        for name in names:
            group_of.setdefault(normalise(name), gi)
    clusters: list[_Cluster] = []
    by_group: dict[int, _Cluster] = {}
    for n in order:
        gi = group_of.get(n)
        if gi is not None and gi in by_group:
            by_group[gi].members.append(n)
            continue
        c = _Cluster(rep=n, members=[n])
        clusters.append(c)
        if gi is not None:
            by_group[gi] = c
    return clusters


def _cluster(order: list[str], threshold: float, embedder: Embedder | None) -> list[_Cluster]:
    """Greedy: each normal form joins the first earlier cluster whose representative is similar enough."""
    clusters: list[_Cluster] = []
    if embedder is None:
        return [_Cluster(rep=n, members=[n]) for n in order]
    vecs = embedder.encode(order)
    reps: list[int] = []  # index into order of each cluster's representative
    for i, n in enumerate(order):
        best, best_sim = -1, threshold
        for ci, ri in enumerate(reps):
            sim = float(vecs[i] @ vecs[ri])
            if sim >= best_sim:
                best, best_sim = ci, sim
                if sim >= 0.9999:
                    break
        if best < 0:
            clusters.append(_Cluster(rep=n, members=[n]))
            reps.append(i)
        else:
            clusters[best].members.append(n)
    return clusters
