"""The officials of a province at work, for Locust (driven by bench/load/run.py, loopback only).

Village clerks list, survey and appraise; township reviewers verify in batches
of 50 and resolve objections; ten county leaders approve 5,000 households each
at the same moment; leaders read dashboards; the public reads notices and
objects. Every account and id comes from the plan file run.py writes.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import threading

from locust import HttpUser, between, constant, events, task

PLAN = json.loads(open(os.environ["EXITFLOW_LOAD_PLAN"], encoding="utf-8").read())
PASSWORD = PLAN["password"]
_next = {role: itertools.count() for role in ("village", "township", "county", "dashboard")}
_lock = threading.Lock()
SURVEY = {
    "surveyed_on": "2019-10-15",
    "surveyors": ["韦组长", "覃队员"],
    "income_per_capita": 6500.0,
    "indicators": {code: True for code in PLAN["indicators"]},
}
APPRAISAL = {"meeting_on": "2019-10-20", "present": 30, "votes_for": 25, "votes_against": 2}
COUNTY_START = threading.Event()


def _account(role: str) -> str:
    names = PLAN["accounts"][role]
    with _lock:
        return names[next(_next[role]) % len(names)]


class Official(HttpUser):
    """A signed-in user of the JSON API."""

    abstract = True
    role = ""

    def on_start(self):
        self.username = _account(self.role)
        answer = self.client.post(
            "/api/v1/auth/token",
            json={"username": self.username, "password": PASSWORD},
            name="POST /auth/token",
        )
        self.headers = {"Authorization": f"Bearer {answer.json()['token']}"}

    def cases(self, state: str, per_page: int = 50, page: int = 1) -> list[dict]:
        answer = self.client.get(
            f"/api/v1/cases?state={state}&per_page={per_page}&page={page}",
            headers=self.headers,
            name=f"GET /cases (per_page={per_page})",
        )
        return answer.json().get("items", []) if answer.ok else []

    def fire(self, case_id: int, trigger: str, data: dict, name: str):
        return self.client.post(
            f"/api/v1/cases/{case_id}/transitions",
            json={"trigger": trigger, "data": data},
            headers=self.headers,
            name=name,
        )


# Think times are a person's: a survey form or a sign-off takes minutes to fill in,
# so an official acts every 10-60 s; the public reads a notice every 5-20 s.
class VillageClerk(Official):
    weight = 150
    role = "village"
    wait_time = between(10, 30)

    def on_start(self):
        super().on_start()
        self.surveyed: list[int] = []

    @task(5)
    def list_cases(self):
        self.cases("planned")

    @task(2)
    def survey(self):
        items = self.cases("planned", per_page=20)
        if items:
            case_id = random.choice(items)["id"]
            if self.fire(case_id, "submit_survey", SURVEY, "POST survey").ok:
                self.surveyed.append(case_id)

    @task(1)
    def appraise(self):
        # The households this clerk surveyed (a loaded case has no survey to appraise on).
        if self.surveyed:
            self.fire(self.surveyed.pop(), "appraise", APPRAISAL, "POST appraise")


class TownshipReviewer(Official):
    weight = 60
    role = "township"
    wait_time = between(15, 40)

    @task(3)
    def verify_fifty(self):
        items = self.cases("township_verification", per_page=200)
        mine = [c["id"] for c in items][:: max(1, len(items) // 50 or 1)][:50]
        if mine:
            self.client.post(
                "/api/v1/cases/batch-transitions",
                json={
                    "trigger": "verify",
                    "case_ids": mine,
                    "data": {"result": "pass", "visited_on": "2019-10-30"},
                },
                headers=self.headers,
                name="POST verify x50",
            )

    @task(1)
    def resolve_objection(self):
        for case in self.cases("objection_review", per_page=5):
            detail = self.client.get(
                f"/api/v1/cases/{case['id']}", headers=self.headers, name="GET /cases/{id}"
            )
            open_ones = [o for o in detail.json().get("objections", []) if o["status"] == "open"]
            if open_ones:
                self.fire(
                    case["id"],
                    "dismiss_objection",
                    {"objection_id": open_ones[0]["id"], "finding": "经核实,反映情况不属实"},
                    "POST dismiss_objection",
                )
                return


class CountyLeader(Official):
    """Ten county leaders approve 5,000 households each at the same moment, once."""

    fixed_count = 10
    role = "county"
    wait_time = constant(600)
    done = False

    @task
    def approve_five_thousand(self):
        if self.done:
            return
        self.done = True
        ids: list[int] = []
        page = 1
        while len(ids) < PLAN["approve_batch"]:
            items = self.cases("county_review", per_page=1000, page=page)
            if not items:
                break
            ids += [c["id"] for c in items]
            page += 1
        COUNTY_START.wait(PLAN["county_start_after"])
        self.client.post(
            "/api/v1/cases/batch-transitions",
            json={"trigger": "approve", "case_ids": ids[: PLAN["approve_batch"]], "data": {}},
            headers=self.headers,
            name=f"POST approve x{PLAN['approve_batch']}",
            timeout=600,
        )


class Leader(HttpUser):
    """Township, county, city and province leaders reading their dashboards in the pages."""

    weight = 20
    wait_time = between(20, 60)

    def on_start(self):
        username = _account("dashboard")
        page = self.client.get("/login", name="GET /login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        self.client.post(
            "/login",
            data={
                "username": username,
                "password": PASSWORD,
                "csrf_token": token.group(1) if token else "",
            },
            name="POST /login",
        )

    @task
    def dashboard(self):
        self.client.get("/dashboard", name="GET /dashboard")


class Public(HttpUser):
    """Anyone: the open notices, a notice's PDF, now and then an objection."""

    weight = 60
    wait_time = between(5, 20)

    @task(4)
    def front_page(self):
        self.client.get("/", name="GET / (public)")

    @task(3)
    def notice(self):
        window = random.choice(PLAN["windows"])
        self.client.get(
            f"/api/v1/publicity-windows/{window['id']}/notice.pdf", name="GET notice.pdf"
        )

    @task(1)
    def object(self):
        window = random.choice(PLAN["windows"])
        self.client.post(
            f"/api/v1/publicity-windows/{window['id']}/objections",
            json={
                "case_id": random.choice(window["case_ids"]),
                "name": "王某某",
                "contact": "13800000000",
                "content": "该户家中新建楼房,收入情况与公示不符,请核实。",
            },
            name="POST objection",
        )


@events.spawning_complete.add_listener
def _all_spawned(user_count, **_kw):
    COUNTY_START.set()  # the county leaders approve together once everyone is at work
