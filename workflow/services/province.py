"""A synthetic province for benchmarks and load tests (seed-demo --province).

14 cities, N counties (110), about 11 townships a county, 12-13 villages a
township, and the households (1,000,000 with their members, about 3.5 million
people) spread over the villages. The register is loaded as a deployment
would load an existing one: in bulk (PostgreSQL COPY, SQLite executemany), one
county at a time, every case with an audit record in its county's chain
(`load_case`, naming the state it was loaded in). Cases are spread across the
household procedure's states, or all loaded at `--advance-to`'s state.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import func, insert, select, text
from werkzeug.security import generate_password_hash

from states.identity import make_id_number
from workflow import personal_data
from workflow.errors import Conflict, ValidationFailed
from workflow.extensions import db
from workflow.models import Case, Household, Region, User
from workflow.services import audit, deadlines, users
from workflow.services.actors import SYSTEM
from workflow.services.bulk import copy_rows

logger = logging.getLogger(__name__)

CANDIDATE_CODES = ("450000", "520000", "530000", "620000", "630000", "640000")
CITIES = 14
TOWNSHIPS_PER_COUNTY = 1_200 / 110
VILLAGES_PER_TOWNSHIP = 15_000 / 1_200
YEAR = 2019
# How a province's cases are spread over the states when no --advance-to is given:
# states that need no side rows (windows, sign-offs) to be what they say.
SPREAD = [
    ("planned", 20),
    ("surveyed", 20),
    ("appraised", 20),
    ("county_review", 15),
    ("filed", 10),
    ("announced", 5),
    ("exited", 10),
]
# Loading at township_verification needs no side rows either (no sign-off yet).
LOADABLE = {state for state, _ in SPREAD} | {"township_verification"}
SYLLABLES = "安宁平和兴隆永福丰泰康乐长青红星光明新华团结东西南北龙泉石门清水白云金山"
SURNAMES = "李王张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐韦覃蒙莫陆黎"
GIVEN = ["建国", "秀英", "桂兰", "志强", "明", "春花", "永福", "德胜", "玉梅", "海燕", "䶮", "堃"]


def _name(rng: random.Random, suffix: str) -> str:
    return rng.choice(SYLLABLES) + rng.choice(SYLLABLES) + suffix


def province_code() -> str:
    """450000 unless it exists, else the first free candidate."""
    for code in CANDIDATE_CODES:
        if db.session.get(Region, code) is None:
            return code
    raise Conflict("没有可用的演示省份代码")


def plan_regions(code: str, counties: int, rng: random.Random) -> list[dict]:
    """Province, cities, counties, townships and villages as rows (path included)."""
    prov = {"code": code, "name": _name(rng, "省"), "level": "province", "parent_code": None}
    prov["path"] = f"/{code}/"
    rows = [prov]
    cities = min(CITIES, counties)
    county_no = 0
    for c in range(cities):
        city_code = f"{code[:2]}{c + 1:02d}00"
        city = {"code": city_code, "name": _name(rng, "市"), "level": "city"}
        city.update(parent_code=code, path=f"{prov['path']}{city_code}/")
        rows.append(city)
        share = counties // cities + (1 if c < counties % cities else 0)
        for k in range(share):
            county_no += 1
            ccode = f"{city_code[:4]}{k + 1:02d}"
            county = {"code": ccode, "name": _name(rng, "县"), "level": "county"}
            county.update(parent_code=city_code, path=f"{city['path']}{ccode}/", is_poor=True)
            rows.append(county)
            townships = round(TOWNSHIPS_PER_COUNTY * county_no) - round(
                TOWNSHIPS_PER_COUNTY * (county_no - 1)
            )
            for t in range(townships):
                tcode = f"{ccode}{100 + t:03d}000"
                township = {"code": tcode, "name": _name(rng, "镇"), "level": "township"}
                township.update(parent_code=ccode, path=f"{county['path']}{tcode}/")
                rows.append(township)
                villages = 12 + (1 if rng.random() < VILLAGES_PER_TOWNSHIP - 12 else 0)
                for v in range(villages):
                    vcode = f"{tcode[:9]}{200 + v:03d}"
                    rows.append(
                        {
                            "code": vcode,
                            "name": _name(rng, "村"),
                            "level": "village",
                            "parent_code": tcode,
                            "path": f"{township['path']}{vcode}/",
                            "is_poor": v < 3,
                        }
                    )
    return rows


def seed(
    counties: int,
    households: int,
    password: str,
    now: datetime,
    state: str | None = None,
    progress: Callable[[str, int], None] | None = None,
    spread: list[tuple[str, int]] | None = None,
) -> dict[str, str]:
    """Load the province; returns the demo logins (username -> role)."""
    spread = spread or SPREAD
    if any(s not in LOADABLE for s, _w in spread):
        raise ValidationFailed("不能载入到该状态", {"spread": [s for s, _w in spread]})
    if state is not None and state not in LOADABLE:
        raise ValidationFailed(
            f"省级演示数据只能载入到这些状态之一:{', '.join(sorted(LOADABLE))}",
            {"advance_to": [state]},
        )
    say = progress or (lambda step, n: None)
    rng = random.Random(20191001)
    code = province_code()
    regions = plan_regions(code, counties, rng)
    county_rows = [r for r in regions if r["level"] == "county"]
    by_county: dict[str, list[dict]] = {c["code"]: [] for c in county_rows}
    for r in regions:
        if r["level"] == "village":
            by_county[r["code"][:6]].append(r)
    # The rural population makes the incidence about 4-8% before any exit.
    per_village = households / max(1, sum(len(v) for v in by_county.values()))
    for villages in by_county.values():
        for v in villages:
            v["rural_population"] = int(per_village * 3.5 * rng.uniform(12, 25))
    _insert_regions(regions, code)
    logins = _users(code, county_rows, by_county, regions, password, now)
    say("regions", len(regions))
    db.session.commit()
    rule_set = "guangxi" if code == "450000" else "national"
    households_left, counties_left = households, len(county_rows)
    for county in county_rows:
        share = households_left // counties_left
        households_left -= share
        counties_left -= 1
        _load_county(county, by_county[county["code"]], share, rule_set, state, now, rng, spread)
        db.session.commit()
        say(county["code"], share)
    if db.session.get_bind().dialect.name == "postgresql":
        for table in ("households", "members", "cases"):
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )
            )
        db.session.commit()
    return logins


def _insert_regions(rows: list[dict], code: str) -> None:
    cols = ("code", "name", "level", "parent_code", "path", "rural_population", "is_poor")
    values = [
        {
            **{c: r.get(c) for c in cols},
            "is_poor": bool(r.get("is_poor")),
            "remote": False,
            "rule_set": ("guangxi" if code == "450000" else None)
            if r["level"] == "province"
            else None,
        }
        for r in rows
    ]
    db.session.execute(insert(Region), values)


def _users(code, county_rows, by_county, regions, password, now) -> dict[str, str]:
    first = county_rows[0]["code"]
    township = next(r for r in regions if r["level"] == "township" and r["parent_code"] == first)
    village = by_county[first][0]
    plan = [(f"county{i}", "county", c["code"]) for i, c in enumerate(county_rows, start=1)]
    plan += [("village1", "village", village["code"])]
    plan += [(f"township{k}", "township", township["code"]) for k in (1, 2, 3)]
    plan += [
        ("city1", "city", county_rows[0]["parent_code"]),
        ("province1", "province", code),
        ("evaluator1", "evaluator", code),
    ]
    names = [p[0] for p in plan]
    taken = set(db.session.scalars(select(User.username).where(User.username.in_(names))))
    if taken:
        raise Conflict(f"用户 {', '.join(sorted(taken)[:5])} 已存在:省级演示数据需要一个新的数据库")
    problem = users.password_problem(password)
    if problem:
        raise ValidationFailed(problem, {"password": [problem]})
    paths = {r["code"]: r["path"] for r in regions}
    # One hash for the one demo password: scrypt per user would cost a minute.
    hashed = generate_password_hash(password, method=users.HASH_METHOD["method"])
    rows = [
        {
            "username": name,
            "display_name": f"{name}({role})",
            "password_hash": hashed,
            "role": role,
            "region_code": region,
            "region_path": paths[region],
            "active": True,
            "failed_logins": 0,
            "created_at": now,
        }
        for name, role, region in plan
    ]
    if not db.session.scalar(select(User.id).where(User.username == "admin")):
        rows.append(
            {
                "username": "admin",
                "display_name": "系统管理员",
                "password_hash": hashed,
                "role": "admin",
                "region_code": None,
                "region_path": "/",
                "active": True,
                "failed_logins": 0,
                "created_at": now,
            }
        )
    db.session.execute(insert(User), rows)
    return {r["username"]: r["role"] for r in rows}


def _next_id(model) -> int:
    return (db.session.scalar(select(func.max(model.id))) or 0) + 1


def _load_county(county, villages, count, rule_set, state, now, rng, spread) -> None:
    """One county's households, members and cases, and its audit chain's records."""
    ccode = county["code"]
    hid, mid, cid = _next_id(Household), _next_id_members(), _next_id(Case)
    homes, people, cases, details, changes = [], [], [], [], []
    weights = [w for _s, w in spread]
    states = [s for s, _w in spread]
    due = {s: deadlines.deadline_for("household_exit", s, rule_set, now) for s in LOADABLE}
    members_made = 0
    for i in range(count):
        village = villages[i % len(villages)]
        size = rng.choice((1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 7))
        born = date(1935, 1, 1) + timedelta(days=i // 1000)
        head = make_id_number(ccode, born, i)
        forms = personal_data.protect(head)
        case_state = state or rng.choices(states, weights)[0]
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        homes.append(
            (
                hid,
                village["code"],
                village["path"],
                f"{rng.randint(1, 9)}组",
                name,
                forms["cipher"],
                forms["hash"],
                forms["masked"],
                rng.choice(("因病", "因学", "缺技术", "缺劳力", "因残")),
                "exited" if case_state == "exited" else "poor",
                True,
                size,
                now,
            )
        )
        for k in range(size - 1):
            number = make_id_number(
                ccode, date(1976, 1, 1) + timedelta(days=members_made // 1000), members_made
            )
            members_made += 1
            m = personal_data.protect(number)
            people.append(
                (
                    mid,
                    hid,
                    name[0] + rng.choice(GIVEN),
                    ("配偶", "子女", "父母", "孙子女", "其他")[k % 5],
                    m["cipher"],
                    m["hash"],
                    m["masked"],
                )
            )
            mid += 1
        cases.append(
            (
                cid,
                "household_exit",
                hid,
                village["code"],
                village["path"],
                YEAR,
                case_state,
                1,
                rule_set,
                due[case_state],
                False,
                now,
                now,
            )
        )
        details.append((cid, "{}"))
        changes.append((cid, 1, "household_exit", None, case_state, _LOADED, village["path"]))
        hid += 1
        cid += 1
    copy_rows(
        "households",
        (
            "id",
            "village_code",
            "region_path",
            "group",
            "head_name",
            "head_id_cipher",
            "head_id_hash",
            "head_id_masked",
            "poverty_cause",
            "status",
            "registered",
            "size",
            "created_at",
        ),
        homes,
    )
    copy_rows(
        "members",
        ("id", "household_id", "name", "relation", "id_cipher", "id_hash", "id_masked"),
        people,
    )
    copy_rows(
        "cases",
        (
            "id",
            "kind",
            "household_id",
            "village_code",
            "region_path",
            "year",
            "state",
            "version",
            "rule_set",
            "deadline_at",
            "overdue",
            "created_at",
            "updated_at",
        ),
        cases,
    )
    copy_rows("case_data", ("case_id", "data"), details)
    audit.append_transitions("load_case", SYSTEM, now, changes)


_LOADED = {"source": "seed-demo --province", "year": YEAR}


def _next_id_members() -> int:
    from workflow.models import Member

    return _next_id(Member)
