"""How the reference teacher errs: noise profiles, drawn deterministically from (noise seed, request content).

A real teacher LMM paraphrases skill names, misses some first wrong steps, names the wrong skill now and then, and
tags a support pool imperfectly (the paper's GPT-4o-class teacher finds the first wrong step ~65% of the time).
The reference teacher is exact in the shapes world, so without noise the method would be measured against an
oracle with a closed vocabulary. A profile sets the rates; every draw is a hash of (profile seed, request kind,
request content, what is drawn), never a fresh random number, so the same request always gets the same reply:
the client's reply cache, a resumed run and concurrent requests stay consistent.

Profiles: `exact` (tests; canonical skill names, no errors) and `realistic` (the default of `edtune demo`).
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field

from edtune.shapes.world.families import SKILL_DESCRIPTIONS, SKILL_SYNONYMS


class NoiseProfile(BaseModel):
    """Error rates of the reference teacher (each a probability per draw)."""

    name: str
    seed: int = 0
    paraphrase: bool = Field(False, description="name skills with a phrasing drawn per request")
    switch_miss: float = Field(0.0, ge=0, le=1, description="answer switch: a step's implication is not read")
    step_error: float = Field(0.0, ge=0, le=1, description="judge: names another step as the first wrong one")
    skill_error: float = Field(0.0, ge=0, le=1, description="judge/skill: names another skill")
    tag_miss: float = Field(0.0, ge=0, le=1, description="tagging: a true skill is left out")
    tag_wrong: float = Field(0.0, ge=0, le=1, description="tagging: a wrong skill is added")
    group_miss: float = Field(
        0.0, ge=0, le=1, description="grouping: a paraphrased skill name is not recognised as its skill's"
    )

    def with_seed(self, seed: int) -> NoiseProfile:
        return self.model_copy(update={"seed": seed})

    def draw(self, *parts: object) -> float:
        """A number in [0, 1) that depends only on the profile seed and `parts`."""
        h = hashlib.sha256("\x1f".join([str(self.seed), *map(str, parts)]).encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64

    def pick(self, options: list[str], *parts: object) -> str:
        return options[int(self.draw("pick", *parts) * len(options))]

    def phrase(self, skill: str, *parts: object) -> str:
        """How this reply names `skill`: the canonical name, or (paraphrasing) one of its phrasings."""
        if not self.paraphrase or skill not in SKILL_SYNONYMS:
            return skill
        return self.pick([skill, *SKILL_SYNONYMS[skill]], "phrase", skill, *parts)

    def wrong_skill(self, skill: str, *parts: object) -> str:
        """Another canonical skill than `skill` (what a teacher names when it is wrong about the skill)."""
        others = sorted(s for s in SKILL_DESCRIPTIONS if s != skill)
        return self.pick(others, "wrong-skill", skill, *parts)


NOISE_PROFILES: dict[str, NoiseProfile] = {
    "exact": NoiseProfile(name="exact"),
    # Chosen so that step identification lands at ~65-80% (docs/teacher.md "Noise profiles": measured figures).
    "realistic": NoiseProfile(
        name="realistic",
        paraphrase=True,
        switch_miss=0.5,
        step_error=0.3,
        skill_error=0.15,
        tag_miss=0.15,
        tag_wrong=0.10,
        group_miss=0.10,
    ),
}
DEFAULT_NOISE = "realistic"


def get_profile(name: str, seed: int = 0) -> NoiseProfile:
    from edtune.errors import InputError

    try:
        return NOISE_PROFILES[name].with_seed(seed)
    except KeyError:
        raise InputError(f"unknown noise profile {name!r}; known: {', '.join(NOISE_PROFILES)}") from None
