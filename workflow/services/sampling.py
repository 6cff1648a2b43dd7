"""Drawing an evaluation's sample: one stage by village strata, or villages first (county)."""

from __future__ import annotations

import hashlib
import random

from sqlalchemy import select

from states.criteria import draw_sample, draw_villages
from workflow.errors import Conflict
from workflow.extensions import db
from workflow.models import Case, Household, Region

# Approved exits, whether or not announced and recorded yet.
EVALUATED_STATES = ("filed", "evaluated", "announced", "exited")


def _rng(seed: int, stratum: str) -> random.Random:
    return random.Random(
        int.from_bytes(hashlib.sha256(f"{seed}:{stratum}".encode()).digest()[:8], "big")
    )


def draw(
    scope: Region,
    year: int,
    sample_size: int,
    seed: int,
    nonregistered: int,
    village_sample_size: int | None,
    households_per_village: int | None,
) -> dict:
    """The sample: registered (case, household, village) rows, non-registered households."""
    cases = db.session.execute(
        select(Case.id, Case.household_id, Case.village_code).where(
            Case.kind == "household_exit",
            Case.year == year,
            Case.state.in_(EVALUATED_STATES),
            Case.region_path.startswith(scope.path),
        )
    ).all()
    if not cases:
        raise Conflict(f"{scope.name} {year} 年没有待评估(已批准备案)的退出户")
    others = db.session.execute(
        select(Household.id, Household.village_code).where(
            Household.registered.is_(False), Household.region_path.startswith(scope.path)
        )
    ).all()
    villages = None
    if village_sample_size:
        # The national design: villages first (poor and non-poor, remote ones on
        # purpose), then households within each chosen village.
        rows = db.session.execute(
            select(Region.code, Region.is_poor, Region.remote).where(
                Region.path.startswith(scope.path), Region.level == "village"
            )
        ).all()
        villages = draw_villages(
            [(r.code, r.is_poor, r.remote) for r in rows], village_sample_size, seed
        )
        chosen_villages = set(villages)
        per_village = households_per_village or max(1, sample_size // max(1, len(villages)))
        by_village: dict[str, list] = {}
        for c in cases:
            if c.village_code in chosen_villages:
                by_village.setdefault(c.village_code, []).append(c)
        registered = []
        for code in villages:
            pool = sorted(by_village.get(code, []))
            registered += _rng(seed, code).sample(pool, min(per_village, len(pool)))
        pool = [(h.id, h.village_code) for h in others if h.village_code in chosen_villages]
        extra = draw_sample(pool, nonregistered, seed) if nonregistered else []
    else:
        by_id = {c.id: c for c in cases}
        registered = [
            by_id[i]
            for i in draw_sample([(c.id, c.village_code) for c in cases], sample_size, seed)
        ]
        extra = (
            draw_sample([(h.id, h.village_code) for h in others], nonregistered, seed)
            if nonregistered
            else []
        )
    village_of = {h.id: h.village_code for h in others}
    return {
        "registered": sorted(registered),
        "nonregistered": [(hid, village_of[hid]) for hid in extra],
        "villages": villages,
    }
