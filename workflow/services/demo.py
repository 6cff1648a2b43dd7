"""The demo county, and driving its households through the real procedure (seed-demo)."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import insert, select

from states.calendar import SHANGHAI
from states.identity import make_id_number
from workflow import personal_data
from workflow.extensions import db
from workflow.models import Case, Household, Member, Region, User
from workflow.services import cases, regions, users
from workflow.services.actors import from_user

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "Exitflow-demo-2019"
YEAR = 2019
COUNTY = "451099"
ORDER = [
    "planned",
    "surveyed",
    "appraised",
    "village_publicity",
    "township_verification",
    "verified",
    "township_publicity",
    "county_review",
    "filed",
    "evaluated",
    "announced",
    "exited",
]
TOWNSHIPS = [("451099100000", "红星镇"), ("451099101000", "青山乡"), ("451099102000", "白云乡")]
VILLAGES = [
    "红星村",
    "光明村",
    "新华村",
    "团结村",
    "东山村",
    "西岭村",
    "龙泉村",
    "石门村",
    "平安村",
    "长青村",
    "福禄村",
    "清水村",
]
SURNAMES = "李王张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐韦覃蒙莫陆黎"
GIVEN = [
    "建国",
    "秀英",
    "桂兰",
    "志强",
    "明",
    "春花",
    "永福",
    "德胜",
    "玉梅",
    "海燕",
    "金凤",
    "文华",
    "国庆",
    "丽娟",
    "家宝",
    "淼",
    "犇",
    "堃",
    "昇",
    "䶮",
]


def at(day: date, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    """A moment of the demo timeline, Asia/Shanghai."""
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SHANGHAI)


def exists() -> bool:
    """Whether the demo county is already loaded."""
    return db.session.get(Region, COUNTY) is not None


def seed(households: int, password: str, now: datetime) -> dict[str, str]:
    """Regions, one user per role (and per village and township), households; commits."""
    regions.add_many(_regions())
    logins = _users(password, now)
    _households(households, now)
    db.session.commit()
    return logins


def _regions() -> list[dict]:
    out = [
        dict(code="450000", name="广西壮族自治区", level="province", rule_set="guangxi"),
        dict(code="451000", name="百色市", level="city", parent_code="450000"),
        dict(code=COUNTY, name="示范县", level="county", parent_code="451000", is_poor=True),
    ]
    for t, (tcode, tname) in enumerate(TOWNSHIPS):
        out.append(dict(code=tcode, name=tname, level="township", parent_code=COUNTY))
        for v in range(4):
            out.append(
                dict(
                    code=f"{tcode[:9]}2{v:02d}",
                    name=VILLAGES[t * 4 + v],
                    level="village",
                    parent_code=tcode,
                    rural_population=1800 + 150 * v,
                    is_poor=v < 2,
                )
            )
    return out


def village_codes() -> list[str]:
    """The demo villages, in order."""
    return [f"{tcode[:9]}2{v:02d}" for tcode, _ in TOWNSHIPS for v in range(4)]


def _users(password: str, now: datetime) -> dict[str, str]:
    plan = [("admin", "admin", None, "系统管理员")]
    for i, code in enumerate(village_codes(), start=1):
        plan.append((f"village{i}", "village", code, f"{VILLAGES[i - 1]}村委文书"))
    for t, (tcode, tname) in enumerate(TOWNSHIPS):
        for k in range(1, 4):
            plan.append((f"township{t * 3 + k}", "township", tcode, f"{tname}核实员{k}"))
    plan += [
        ("county1", "county", COUNTY, "示范县扶贫办主任"),
        ("city1", "city", "451000", "百色市扶贫办"),
        ("province1", "province", "450000", "自治区扶贫办"),
        ("evaluator1", "evaluator", "450000", "第三方评估组"),
    ]
    for username, role, region, name in plan:
        users.create(username, password, role, region, name, now, commit=False)
    db.session.flush()
    return {u: r for u, r, _, _ in plan}


def _households(count: int, now: datetime) -> None:
    rng = random.Random(YEAR)
    villages = village_codes()
    paths = {
        r.code: r.path for r in db.session.scalars(select(Region).where(Region.code.in_(villages)))
    }
    total = count + max(1, count // 10)  # plus ordinary households for 漏评 samples
    rows, members = [], []
    for i in range(total):
        village = villages[i % len(villages)]
        # (birth date, sequence) unique for up to 300,000 households: valid, distinct IDs.
        born = date(1935, 1, 1) + timedelta(days=(i // 1000) * 97 % 29000 + i % 7)
        size = rng.randint(1, 6)
        rows.append(
            {
                "village_code": village,
                "region_path": paths[village],
                "group": f"{rng.randint(1, 9)}组",
                "head_name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                **_protected("head_id", make_id_number(COUNTY, born, i)),
                "poverty_cause": rng.choice(["因病", "因学", "缺技术", "缺劳力", "因残"]),
                "status": "poor",
                "registered": i < count,
                "size": size,
                "created_at": now,
            }
        )
    ids = list(
        db.session.scalars(
            insert(Household).returning(Household.id, sort_by_parameter_order=True), rows
        )
    )
    for i, (hid, row) in enumerate(zip(ids, rows, strict=True)):
        for k in range(row["size"] - 1):
            born = date(1960, 1, 1) + timedelta(days=(i * 13 + k * 3001) % 20000)
            members.append(
                {
                    "household_id": hid,
                    "name": row["head_name"][0] + rng.choice(GIVEN),
                    "relation": ["配偶", "子女", "父母", "孙子女", "其他"][k % 5],
                    **_protected("id", make_id_number("451099", born, 500 + k)),
                }
            )
    if members:
        db.session.execute(insert(Member), members)


def _protected(prefix: str, number: str) -> dict:
    """The stored forms of a demo ID number (encrypted, keyed hash, masked)."""
    forms = personal_data.protect(number)
    return {
        f"{prefix}_cipher": forms["cipher"],
        f"{prefix}_hash": forms["hash"],
        f"{prefix}_masked": forms["masked"],
    }


def advance(target: str, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Drive every demo household up to `target` through the services, on a 2019 timeline."""
    if target not in ORDER:
        raise ValueError(f"unknown state {target}; one of {', '.join(ORDER)}")
    say = progress or (lambda step, n: None)
    stop = ORDER.index(target)
    actors = {u.username: from_user(u) for u in db.session.scalars(select(User))}
    by_region = defaultdict(list)
    for a in actors.values():
        by_region[(a.role, a.region_code)].append(a)
    households = db.session.execute(
        select(Household.id, Household.village_code).where(
            Household.registered.is_(True), Household.region_path.like(f"%/{COUNTY}/%")
        )
    ).all()
    have = set(db.session.scalars(select(Case.household_id).where(Case.year == YEAR)))
    todo = [h.id for h in households if h.id not in have]
    pending = set(todo)
    if todo:
        for tcode, _ in TOWNSHIPS:
            ids = [h.id for h in households if h.id in pending and h.village_code[:9] == tcode[:9]]
            if ids:
                cases.open_household_cases(
                    by_region[("township", tcode)][0], ids, YEAR, at(date(YEAR, 10, 8))
                )
        db.session.commit()
    say("planned", len(todo))
    from workflow.services import demo_steps as d

    steps = [
        d.survey,
        d.appraise,
        d.first_window,
        d.close_first,
        d.verify,
        d.second_window,
        d.close_second,
        d.approve,
        d.evaluate,
        d.announce,
        d.record_exit,
    ]
    for index, step in enumerate(steps, start=1):
        if index > stop:
            break
        n = step(by_region, actors)
        db.session.commit()
        say(ORDER[index], n)
    counts: dict[str, int] = defaultdict(int)
    for (state,) in db.session.execute(select(Case.state).where(Case.year == YEAR)):
        counts[state] += 1
    return dict(counts)
