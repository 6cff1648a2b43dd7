"""Test data built through the services: regions, users, households, cases."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime

from states.identity import make_id_number
from workflow import clock
from workflow.extensions import db
from workflow.services import households, regions, users
from workflow.services.actors import Actor, from_user

PASSWORD = "Test-password-2019"
VILLAGE, VILLAGE2, TOWNSHIP, COUNTY = "430623100201", "430623100202", "430623100000", "430623"
OTHER_VILLAGE = "430623101201"
_seq = itertools.count(1)


@dataclass
class World:
    """Regions and one actor per role."""

    actors: dict[str, Actor] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Actor:
        return self.actors[name]


def build_world(rule_set: str | None = None) -> World:
    """Province → city → county → 2 townships → villages, and the users who act in them."""
    regions.add_many(
        [
            dict(code="430000", name="湖南省", level="province", rule_set=rule_set),
            dict(code="430600", name="岳阳市", level="city", parent_code="430000"),
            dict(code=COUNTY, name="华容县", level="county", parent_code="430600", is_poor=True),
            dict(code=TOWNSHIP, name="红星镇", level="township", parent_code=COUNTY),
            dict(
                code=VILLAGE,
                name="红星村",
                level="village",
                parent_code=TOWNSHIP,
                rural_population=1000,
                is_poor=True,
            ),
            dict(
                code=VILLAGE2,
                name="光明村",
                level="village",
                parent_code=TOWNSHIP,
                rural_population=800,
            ),
            dict(code="430623101000", name="青山乡", level="township", parent_code=COUNTY),
            dict(
                code=OTHER_VILLAGE,
                name="青山村",
                level="village",
                parent_code="430623101000",
                rural_population=900,
            ),
        ]
    )
    now = clock.now()
    plan = [
        ("admin", "admin", None),
        ("village1", "village", VILLAGE),
        ("village2", "village", VILLAGE2),
        ("village_other", "village", OTHER_VILLAGE),
        ("township1", "township", TOWNSHIP),
        ("township2", "township", TOWNSHIP),
        ("township3", "township", TOWNSHIP),
        ("township4", "township", TOWNSHIP),
        ("township_other", "township", "430623101000"),
        ("county1", "county", COUNTY),
        ("county2", "county", COUNTY),
        ("county3", "county", COUNTY),
        ("county4", "county", COUNTY),
        ("city1", "city", "430600"),
        ("province1", "province", "430000"),
        ("evaluator1", "evaluator", "430000"),
    ]
    world = World()
    for name, role, region in plan:
        user = users.create(name, PASSWORD, role, region, f"{name}的名字", now, commit=False)
        db.session.flush()
        world.actors[name] = from_user(user)
    db.session.commit()
    return world


def add_household(
    actor: Actor,
    village: str = VILLAGE,
    members: int = 2,
    registered: bool = True,
    name: str = "张三",
) -> int:
    """A household with valid ID numbers; returns its id."""
    n = next(_seq)
    values = {
        "village_code": village,
        "group": "一组",
        "head_name": name,
        "head_id_number": make_id_number(COUNTY, date(1960, 1, 1 + n % 28), n),
        "members": [
            {
                "name": f"成员{k}",
                "relation": "子女",
                "id_number": make_id_number(COUNTY, date(1990, 2, 1 + k), n + 500 + k),
            }
            for k in range(members)
        ],
        "poverty_cause": "因病",
        "registered": registered,
    }
    return households.create(actor, values, clock.now()).id


def set_now(value: str) -> datetime:
    """Move the fake clock (ISO time with offset)."""
    moment = datetime.fromisoformat(value)
    clock.set_fake_now(moment)
    return clock.now()


SURVEY = {
    "surveyed_on": "2019-10-15",
    "surveyors": ["韦组长", "覃队员"],
    "income_per_capita": 4500.0,
    "indicators": {
        "food": True,
        "clothing": True,
        "compulsory_education": True,
        "basic_medical": True,
        "housing_safety": True,
    },
}
APPRAISAL = {"meeting_on": "2019-10-20", "present": 30, "votes_for": 25, "votes_against": 2}


def post_village_window(world: World, n: int = 2, name: str = "户主"):
    """(window, case ids): n appraised households of village1 publicized Mon 21 Oct 2019 09:00."""
    from workflow.services import cases, publicity, transitions

    now = set_now("2019-10-21T09:00:00+08:00")
    ids = cases.open_household_cases(
        world["township1"],
        [add_household(world["village1"], name=f"{name}{i}") for i in range(n)],
        2019,
        now,
    )
    for trigger, payload in (("submit_survey", SURVEY), ("appraise", APPRAISAL)):
        transitions.fire_many(trigger, ids, world["village1"], payload, now)
    db.session.commit()
    window = publicity.post(
        world["village1"], VILLAGE, ids, {"phone": "1", "address": "村委会"}, None, now
    )
    return window, ids
