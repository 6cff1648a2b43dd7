"""The dashboard: materialized figures with their time, live or stale fallback, drill-down, paging."""

from __future__ import annotations

import re

from tests.factories import COUNTY, OTHER_VILLAGE, SURVEY, TOWNSHIP, VILLAGE, set_now
from tests.integration.test_statistics import story
from tests.web.test_pages import sign_in
from workflow import clock
from workflow.extensions import db
from workflow.services import regions, statistics, transitions


def summary(page: str) -> tuple[int, int]:
    """(planned, exited) households from the page's summary line."""
    found = re.search(r"拟退出 (\d+) 户,已退出 (\d+) 户", page)
    assert found, page
    return int(found.group(1)), int(found.group(2))


def get(client, query: str = "") -> tuple[int, str]:
    r = client.get(f"/dashboard{query}")
    # The request shares the test's app context, hence its session: end the page's read
    # transaction as the end of a real request would, before the test writes again.
    db.session.rollback()
    return r.status_code, r.get_data(as_text=True)


def test_fresh_figures_show_their_time_and_stale_ones_fall_back(app, client, world):
    opened = story(world)
    sign_in(client, "county1")
    status, page = get(client)
    assert status == 200 and "实时统计" in page  # never refreshed, a small county: live
    assert summary(page) == (10, 1)
    statistics.refresh(set_now("2019-10-21T09:00:00+08:00"))
    transitions.fire_many(
        "submit_survey", [opened[OTHER_VILLAGE][0]], world["village_other"], SURVEY, clock.now()
    )
    db.session.commit()
    status, page = get(client)
    assert "数据更新于 2019-10-21 09:00" in page and "实时统计" not in page
    assert page.count("<svg") == 4  # progress, townships, villages, overdue
    assert _bar_value(page, "已摸底调查") == 3  # as of the refresh: the survey is not in yet
    set_now("2019-10-21T09:02:01+08:00")  # older than two 60 s intervals
    status, page = get(client)
    assert "实时统计(2019-10-21 09:02)" in page and _bar_value(page, "已摸底调查") == 4
    app.config["EXITFLOW_STATS_LIVE_LIMIT"] = 10  # now the county counts as large
    status, page = get(client)
    assert "数据更新于 2019-10-21 09:00,统计尚未按时更新" in page
    assert _bar_value(page, "已摸底调查") == 3 and summary(page) == (10, 1)
    status, page = get(client, f"?region={VILLAGE}")  # a small village is still counted live
    assert "实时统计" in page and summary(page) == (5, 0)


def test_without_any_refresh_a_large_region_shows_no_figures(app, client, world):
    story(world)
    app.config["EXITFLOW_STATS_LIVE_LIMIT"] = 10
    sign_in(client, "county1")
    status, page = get(client)
    assert status == 200 and "统计数据尚未生成" in page and summary(page) == (0, 0)
    statistics.refresh(clock.now())
    status, page = get(client)
    assert "数据更新于" in page and summary(page) == (10, 1)


def test_drill_down_stays_inside_the_users_subtree(client, world):
    regions.add_many([dict(code="430624", name="邻县", level="county", parent_code="430600")])
    db.session.commit()
    story(world)
    statistics.refresh(clock.now())
    csrf = sign_in(client, "county1")
    status, page = get(client)
    assert status == 200 and f'href="/dashboard?region={TOWNSHIP}' in page
    assert "红星镇" in page and "青山乡" in page and "红星村" in page
    status, page = get(client, f"?region={TOWNSHIP}&year=2019")
    assert status == 200 and f'href="/dashboard?region={VILLAGE}' in page
    assert summary(page) == (8, 1)  # 红星村 5 + 光明村 3
    assert re.search(r'<a href="/dashboard\?region=430623[^"]*">华容县</a> › <strong>红星镇', page)
    status, page = get(client, f"?region={VILLAGE}")
    assert status == 200 and summary(page) == (5, 0)
    for outside in ("430624", "430600", "430000", "999999", ""):
        status, _ = get(client, f"?region={outside}")
        assert status == (200 if outside == "" else 404), outside
    client.post("/logout", data={"csrf_token": csrf})
    csrf = sign_in(client, "township1")
    assert get(client, f"?region={COUNTY}")[0] == 404
    assert get(client, f"?region={OTHER_VILLAGE}")[0] == 404
    status, page = get(client)
    assert status == 200 and summary(page) == (8, 1)
    client.post("/logout", data={"csrf_token": csrf})
    sign_in(client, "city1")
    status, page = get(client, "?region=430624")
    assert status == 200 and summary(page) == (0, 0)
    status, page = get(client, f"?region={VILLAGE}")
    assert status == 200 and ">岳阳市</a> › <a" in page and "<strong>红星村</strong>" in page


def test_more_than_sixty_villages_are_paged(client, world):
    township = "430623102000"
    regions.add_many(
        [dict(code=township, name="大山乡", level="township", parent_code=COUNTY)]
        + [
            dict(
                code=f"430623102{k:03d}",
                name=f"第{k}村",
                level="village",
                parent_code=township,
                rural_population=100,
            )
            for k in range(1, 66)
        ]
    )
    db.session.commit()
    statistics.refresh(clock.now())
    sign_in(client, "county1")
    status, page = get(client, f"?region={township}")
    assert status == 200 and "第 1 / 2 页(共 65 个村)" in page
    assert ">第60村</a>" in page and ">第61村</a>" not in page
    status, page = get(client, f"?region={township}&page=2")
    assert ">第61村</a>" in page and ">第65村</a>" in page and ">第60村</a>" not in page
    assert "上一页" in page and "下一页" not in page
    status, page = get(client, f"?region={township}&page=99")
    assert status == 200 and "第 2 / 2 页" in page
    status, page = get(client)  # the county: 3 + 65 villages
    assert "第 1 / 2 页(共 68 个村)" in page


def _bar_value(page: str, label: str) -> int:
    """The value printed after a bar of the progress chart."""
    found = re.search(re.escape(label) + r"</text><rect[^>]*/><text[^>]*>(\d+)户", page)
    assert found, label
    return int(found.group(1))
