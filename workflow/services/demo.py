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
from workflow.services import cases, evaluation, publicity, regions, transitions, users
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
    steps = [
        _survey,
        _appraise,
        _first_window,
        _close_first,
        _verify,
        _second_window,
        _close_second,
        _approve,
        _evaluate,
        _announce,
        _record_exit,
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


def _cases_in(state: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for cid, village in db.session.execute(
        select(Case.id, Case.village_code)
        .where(Case.year == YEAR, Case.state == state)
        .order_by(Case.id)
    ):
        out[village].append(cid)
    return out


def _survey(by_region, actors) -> int:
    n, rng = 0, random.Random(1)
    indicators = {
        c: True
        for c in (
            "food",
            "clothing",
            "compulsory_education",
            "basic_medical",
            "housing_safety",
            "safe_water",
            "electricity",
            "road",
            "tv",
        )
    }
    for village, ids in _cases_in("planned").items():
        clerk = by_region[("village", village)][0]
        payloads = {
            cid: {
                "surveyed_on": "2019-10-15",
                "surveyors": ["韦组长", "覃队员"],
                "income_per_capita": float(rng.randint(3700, 9000)),
                "indicators": indicators,
            }
            for cid in ids
        }
        n += len(
            transitions.fire_many(
                "submit_survey", ids, clerk, {}, at(date(YEAR, 10, 15)), payloads=payloads
            ).succeeded
        )
    return n


def _appraise(by_region, actors) -> int:
    n = 0
    for village, ids in _cases_in("surveyed").items():
        clerk = by_region[("village", village)][0]
        payload = {
            "meeting_on": "2019-10-20",
            "present": 31,
            "votes_for": 29,
            "votes_against": 1,
            "representatives": 35,
        }
        n += len(
            transitions.fire_many("appraise", ids, clerk, payload, at(date(YEAR, 10, 20))).succeeded
        )
    return n


def _first_window(by_region, actors) -> int:
    n = 0
    for village, ids in _cases_in("appraised").items():
        clerk = by_region[("village", village)][0]
        publicity.post(
            clerk,
            village,
            ids,
            {"phone": "0776-1234567", "address": "村委会办公室"},
            None,
            at(date(YEAR, 10, 21)),
        )
        n += len(ids)
    return n


def _sweep_after(state: str) -> int:
    windows = (
        db.session.execute(
            select(Case.window_id).where(Case.year == YEAR, Case.state == state).distinct()
        )
        .scalars()
        .all()
    )
    from workflow.models import PublicityWindow

    latest = max((db.session.get(PublicityWindow, w).closes_at for w in windows if w), default=None)
    if latest is None:
        return 0
    from workflow.clock import as_utc

    return publicity.sweep(as_utc(latest) + timedelta(seconds=1))["cases_advanced"]


def _close_first(by_region, actors) -> int:
    return _sweep_after("village_publicity")


def _verify(by_region, actors) -> int:
    n = 0
    for tcode, _ in TOWNSHIPS:
        ids = [
            cid
            for v, cids in _cases_in("township_verification").items()
            if v[:9] == tcode[:9]
            for cid in cids
        ]
        for k, verifier in enumerate(by_region[("township", tcode)][:3]):
            done = transitions.fire_many(
                "verify",
                ids,
                verifier,
                {"result": "pass", "visited_on": f"2019-10-{30 + k % 2}"},
                at(date(YEAR, 10, 31), 17 + k),
            )
            n = max(n, len(done.succeeded))
    return n


def _second_window(by_region, actors) -> int:
    n = 0
    for tcode, _ in TOWNSHIPS:
        ids = [
            cid for v, cids in _cases_in("verified").items() if v[:9] == tcode[:9] for cid in cids
        ]
        if ids:
            publicity.post(
                by_region[("township", tcode)][0],
                tcode,
                ids,
                {"phone": "0776-7654321", "address": "乡镇扶贫工作站"},
                None,
                at(date(YEAR, 11, 1)),
            )
            n += len(ids)
    return n


def _close_second(by_region, actors) -> int:
    return _sweep_after("township_publicity")


def _county_batch(trigger: str, state: str, actors, day: date) -> int:
    ids = [cid for cids in _cases_in(state).values() for cid in cids]
    return (
        len(
            transitions.fire_many(
                trigger, ids, actors["county1"], {"note": None}, at(day)
            ).succeeded
        )
        if ids
        else 0
    )


def _approve(by_region, actors) -> int:
    return _county_batch("approve", "county_review", actors, date(YEAR, 11, 12))


def _evaluate(by_region, actors) -> int:
    filed = sum(len(v) for v in _cases_in("filed").values())
    if not filed:
        return 0
    ev = evaluation.create(
        actors["province1"],
        COUNTY,
        YEAR,
        max(1, filed // 10),
        YEAR,
        max(1, filed // 50),
        ["evaluator1"],
        at(date(YEAR, 11, 20)),
    )
    findings = [
        {
            "household_id": s.household_id,
            "meets_criteria": True if s.registered else None,
            "missed_poor": None if s.registered else False,
            "satisfied": True,
        }
        for s in evaluation.samples(ev)
    ]
    evaluation.record_findings(actors["evaluator1"], ev.id, findings, at(date(YEAR, 11, 25)))
    evaluation.close(actors["province1"], ev.id, at(date(YEAR, 11, 28)))
    return sum(len(v) for v in _cases_in("evaluated").values())


def _announce(by_region, actors) -> int:
    return _county_batch("announce", "evaluated", actors, date(YEAR, 12, 1))


def _record_exit(by_region, actors) -> int:
    return _county_batch("record_exit", "announced", actors, date(YEAR, 12, 5))
