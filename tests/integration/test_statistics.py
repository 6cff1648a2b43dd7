"""Materialized region statistics: equal to live counts, swapped whole, read by the dashboard."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from tests.factories import (
    APPRAISAL,
    COUNTY,
    OTHER_VILLAGE,
    PASSWORD,
    SURVEY,
    TOWNSHIP,
    VILLAGE,
    VILLAGE2,
    add_household,
    set_now,
)
from workflow import clock
from workflow.extensions import db
from workflow.models import Case, Household, Region, RegionStat, SchedulerRun, StatsSnapshot
from workflow.services import cases, regions, statistics, transitions


def story(world) -> dict[str, list[int]]:
    """Cases of 2019 in three villages and several states, a 2018 case, a village exit."""
    now = set_now("2019-10-21T09:00:00+08:00")
    homes = {
        VILLAGE: [add_household(world["village1"], VILLAGE, members=2) for _ in range(5)],
        VILLAGE2: [add_household(world["village2"], VILLAGE2, members=1) for _ in range(3)],
        OTHER_VILLAGE: [
            add_household(world["village_other"], OTHER_VILLAGE, members=0) for _ in range(2)
        ],
    }
    add_household(world["village1"], VILLAGE, members=4, registered=False)  # not in the register
    opened = {
        VILLAGE: cases.open_household_cases(world["township1"], homes[VILLAGE], 2019, now),
        VILLAGE2: cases.open_household_cases(world["township1"], homes[VILLAGE2], 2019, now),
        OTHER_VILLAGE: cases.open_household_cases(
            world["township_other"], homes[OTHER_VILLAGE], 2019, now
        ),
    }
    cases.open_household_cases(world["township1"], homes[VILLAGE][:1], 2018, now)
    cases.open_region_case(world["township1"], "village_exit", VILLAGE, 2019, now)
    db.session.commit()
    transitions.fire_many("submit_survey", opened[VILLAGE][:4], world["village1"], SURVEY, now)
    transitions.fire_many("appraise", opened[VILLAGE][:2], world["village1"], APPRAISAL, now)
    transitions.fire_many("submit_survey", opened[VILLAGE2][:1], world["village2"], SURVEY, now)
    db.session.commit()
    # The end of the procedure stands in for its whole publicity-and-sign-off path here:
    # the statistics read states, however the cases reached them.
    exited, returned = opened[VILLAGE2][2], opened[OTHER_VILLAGE][0]
    db.session.execute(update(Case).where(Case.id == exited).values(state="exited"))
    db.session.execute(update(Case).where(Case.id == opened[VILLAGE][4]).values(overdue=True))
    for case_id, status in ((exited, "exited"), (returned, "returned")):
        household = db.session.get(Case, case_id).household_id
        db.session.execute(update(Household).where(Household.id == household).values(status=status))
    db.session.commit()
    return opened


def live_group_by(path: str) -> dict[str, int]:
    """The old page's query: household cases of 2019 by state under a path."""
    return dict(
        db.session.execute(
            select(Case.state, func.count())
            .where(
                Case.kind == "household_exit",
                Case.year == 2019,
                Case.region_path.startswith(path),
            )
            .group_by(Case.state)
        ).all()
    )


def test_materialized_counts_equal_the_live_counts(world):
    story(world)
    result = statistics.refresh(clock.now())
    codes = list(db.session.scalars(select(Region.code)))
    stored = sorted(statistics.stored_rows(codes))
    root = db.session.get(Region, "430000")
    assert stored == sorted(statistics.live_rows(root, codes))
    assert result["rows"] == len(stored) == db.session.scalar(select(func.count(RegionStat.kind)))
    figures = statistics.figures(stored, 2019)
    for code in ("430000", "430600", COUNTY, TOWNSHIP, VILLAGE, VILLAGE2, OTHER_VILLAGE):
        region = db.session.get(Region, code)
        assert dict(figures[code]["progress"]) == live_group_by(region.path), code
        live = regions.incidence(region)
        assert figures[code]["poor_people"] == live["poor_people_not_exited"], code
        assert figures[code]["poor_households"] == live["poor_households_not_exited"], code
        assert figures[code]["population"] == live["rural_population"], code
    assert dict(figures["430000"]["progress"]) == {
        "planned": 4,
        "surveyed": 3,
        "appraised": 2,
        "exited": 1,
    }
    assert figures[VILLAGE2]["rate"] == round(100 / 3, 1)
    # 1000 people in 红星村; 5 registered households of 3 (the unregistered one is not poor).
    assert figures[VILLAGE]["poor_people"] == 15 and figures[VILLAGE]["incidence"] == 1.5
    assert figures[OTHER_VILLAGE]["poor_people"] == 2  # the returned household counts
    assert figures[COUNTY]["population"] == 2700
    assert dict(figures["430000"]["overdue"]) == {"planned": 1}
    assert figures["430000"]["years"] == {2018, 2019}
    village_exit = [r for r in stored if r[0] == VILLAGE and r[1] == "village_exit"]
    assert [(r[2], r[3], r[4]) for r in village_exit] == [(2019, "draft", 1)]


def test_a_refresh_replaces_the_whole_table(world):
    story(world)
    statistics.refresh(set_now("2019-10-22T09:00:00+08:00"))
    first = statistics.snapshot().as_of
    other = (Case.village_code == OTHER_VILLAGE, Case.kind == "household_exit")
    db.session.execute(update(Case).where(*other).values(state="surveyed"))
    db.session.execute(
        update(Household).where(Household.village_code == OTHER_VILLAGE).values(registered=False)
    )
    db.session.execute(
        update(Region).where(Region.code == OTHER_VILLAGE).values(rural_population=None)
    )
    db.session.commit()
    statistics.refresh(set_now("2019-10-22T09:01:00+08:00"))
    assert statistics.snapshot().as_of == first + timedelta(minutes=1)
    assert db.session.scalar(select(func.count()).select_from(StatsSnapshot)) == 1
    rows = statistics.stored_rows([OTHER_VILLAGE, "430623101000"])
    assert sorted(r[:5] for r in rows) == [
        ("430623101000", "household_exit", 2019, "surveyed", 2),
        (OTHER_VILLAGE, "household_exit", 2019, "surveyed", 2),
    ]
    codes = list(db.session.scalars(select(Region.code)))
    root = db.session.get(Region, "430000")
    assert sorted(statistics.stored_rows(codes)) == sorted(statistics.live_rows(root, codes))


def test_the_scheduler_job_refreshes_and_records_its_run(app, world):
    from apscheduler.schedulers.background import BackgroundScheduler

    from workflow import scheduler

    story(world)
    app.config["EXITFLOW_STATS_SECONDS"] = 45
    result = scheduler.refresh_stats(app)
    assert result["rows"] > 0
    assert db.session.get(SchedulerRun, "stats").result["rows"] == result["rows"]
    assert statistics.snapshot().as_of == clock.now()
    jobs = BackgroundScheduler(timezone="UTC")
    scheduler._configure(jobs, app)
    assert jobs.get_job("stats").trigger.interval == timedelta(seconds=45)


def test_the_region_api_reads_fresh_statistics_and_guards_count_live(client, world):
    story(world)
    token = client.post(
        "/api/v1/auth/token", json={"username": "county1", "password": PASSWORD}
    ).get_json()["token"]

    def api(code: str) -> dict:
        r = client.get(f"/api/v1/regions/{code}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.get_data(as_text=True)
        db.session.rollback()  # the request's read transaction, shared with the test
        return r.get_json()

    live = {code: api(code) for code in (COUNTY, VILLAGE)}
    statistics.refresh(clock.now())
    assert {code: api(code) for code in (COUNTY, VILLAGE)} == live
    assert live[VILLAGE]["poor_people_not_exited"] == 15 and live[VILLAGE]["incidence_rate"] == 1.5
    db.session.execute(
        update(Household).where(Household.village_code == VILLAGE).values(status="exited")
    )
    db.session.commit()
    village = db.session.get(Region, VILLAGE)
    assert regions.incidence(village)["poor_people_not_exited"] == 0  # guards: live
    assert api(VILLAGE)["poor_people_not_exited"] == 15  # the API: as of the refresh
    set_now("2019-10-21T09:02:01+08:00")  # two intervals later: live again
    assert api(VILLAGE)["poor_people_not_exited"] == 0
