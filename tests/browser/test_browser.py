"""The pages in Debian's chromium, driven by Playwright: the four daily stories.

Screenshots go to artifacts/screenshots/ (not committed).
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from werkzeug.serving import make_server

from tests.conftest import make_app
from tests.factories import PASSWORD, SURVEY, add_household, build_world
from workflow import clock
from workflow.extensions import db
from workflow.models import Case
from workflow.services import cases, transitions

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory, request):
    """The app on a temp SQLite file, served on 127.0.0.1 by a thread."""
    app = make_app("sqlite", tmp_path_factory.mktemp("browser"), request)
    clock.set_fake_now(datetime.fromisoformat("2019-10-21T09:00:00+08:00"))
    with app.app_context():
        world = build_world()
        now = clock.now()
        appraised = cases.open_household_cases(
            world["township1"],
            [add_household(world["village1"], name=n) for n in ("韦国强", "覃秀英", "黄𠀾")],
            2019,
            now,
        )
        transitions.fire_many("submit_survey", appraised, world["village1"], SURVEY, now)
        transitions.fire_many(
            "appraise",
            appraised,
            world["village1"],
            {"meeting_on": "2019-10-20", "present": 30, "votes_for": 26, "votes_against": 1},
            now,
        )
        verifying = cases.open_household_cases(
            world["township1"], [add_household(world["village1"], name="蒙春花")], 2019, now
        )
        reviewing = cases.open_household_cases(
            world["township1"],
            [add_household(world["village1"], name=f"待批{i}") for i in range(500)],
            2019,
            now,
        )
        db.session.execute(
            update(Case).where(Case.id.in_(verifying)).values(state="township_verification")
        )
        db.session.execute(update(Case).where(Case.id.in_(reviewing)).values(state="county_review"))
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "app": app, "verifying": verifying[0]}
    server.shutdown()
    clock.configure(False)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def page_for(browser, site, username=None, mobile=False):
    context = browser.new_context(
        viewport={"width": 390, "height": 844} if mobile else {"width": 1280, "height": 900},
        locale="zh-CN",
    )
    page = context.new_page()
    if username:
        page.goto(site["url"] + "/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("text=的工作台")
    return page


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_village_user_posts_a_window(browser, site):
    page = page_for(browser, site, "village1", mobile=True)
    shot(page, "village-home-phone")
    page.click("text=发布公示")
    page.wait_for_selector("text=韦国强")
    page.fill("input[name=phone]", "0776-5231234")
    page.fill("input[name=address]", "红星村村委会")
    shot(page, "village-post-window")
    page.click("button:has-text('发布公示')")
    page.wait_for_selector("text=已发布公示")
    assert page.locator("td", has_text="黄𠀾").count() == 1
    shot(page, "window-public")


def test_public_lodges_an_objection(browser, site):
    page = page_for(browser, site)
    page.goto(site["url"] + "/")
    page.click("text=拟退出贫困户名单公示")
    page.fill("input[name=name]", "韦某")
    page.fill("input[name=phone]", "13907760000")  # 实名: a name and a way to reach them
    page.fill("textarea[name=content]", "该户家中有重病人,收入不稳定,请核实")
    page.wait_for_timeout(3200)  # a person takes longer than the minimum fill time
    page.click("button:has-text('提交异议')")
    page.wait_for_selector("text=异议已登记")
    shot(page, "objection-lodged")


def test_township_user_signs(browser, site):
    page = page_for(browser, site, "township1")
    page.goto(f"{site['url']}/cases/{site['verifying']}")
    page.select_option("select[name=result]", "pass")
    page.click("button:has-text('入户核实签字')")
    page.wait_for_selector("text=已完成")
    assert page.locator("td:has-text('township1的名字')").count() >= 1
    shot(page, "township-signed")


def test_county_user_batch_approves_500_across_pages(browser, site):
    page = page_for(browser, site, "county1")
    page.goto(site["url"] + "/cases?state=county_review")
    page.wait_for_selector("text=共 500 件")
    page.check("#all-matching")
    shot(page, "county-review-list")
    page.click("button:has-text('批量办理')")
    page.wait_for_selector("text=将对")
    assert "500" in page.inner_text("p.confirm")
    shot(page, "county-confirm")
    page.click("button:has-text('确认')")
    page.wait_for_selector("text=成功")
    assert "成功500件" in page.inner_text("main").replace(" ", "")
    shot(page, "county-batch-result")


def test_survey_form_judges_as_it_is_filled(browser, site):
    page = page_for(browser, site, "village1")
    with site["app"].app_context():
        from workflow.models import User
        from workflow.services.actors import from_user

        def actor(name):
            return from_user(db.session.scalar(db.select(User).where(User.username == name)))

        [case_id] = cases.open_household_cases(
            actor("township1"), [add_household(actor("village1"), name="陆淼")], 2019, clock.now()
        )
        db.session.commit()
        db.session.remove()
    page.goto(f"{site['url']}/cases/{case_id}")
    page.fill("input[name=surveyors]", "韦组长,覃队员")
    page.fill("#income", "3000")
    assert "未达到" in page.inner_text("#criteria-result")
    page.fill("#income", "6000")
    assert "达到退出标准" in page.inner_text("#criteria-result")
    page.uncheck("input[name=ind_housing_safety]")
    assert "住房安全有保障" in page.inner_text("#criteria-result")
    shot(page, "survey-form-live")
