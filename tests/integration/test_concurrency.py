"""Concurrent writers: each case transitions once, no audit record is duplicated or lost."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select, update

from tests.factories import APPRAISAL, SURVEY, VILLAGE, add_household, set_now
from workflow.extensions import db
from workflow.models import AuditRecord, Case, SignOff
from workflow.services import audit, cases, publicity, transitions


def run_threads(app, jobs):
    results, errors = [], []

    def run(job):
        with app.app_context():
            try:
                results.append(job())
            except Exception as err:  # noqa: BLE001 - collected and asserted on
                errors.append(err)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def count(trigger):
    return db.session.scalar(
        select(func.count()).select_from(AuditRecord).where(AuditRecord.trigger == trigger)
    )


def test_two_county_leaders_approve_overlapping_batches(app, world):
    now = set_now("2019-11-12T09:00:00+08:00")
    ids = cases.open_household_cases(
        world["township1"], [add_household(world["village1"]) for _ in range(120)], 2019, now
    )
    db.session.execute(update(Case).where(Case.id.in_(ids)).values(state="county_review"))
    db.session.commit()
    first, second = ids[:80], ids[40:]

    def approve(actor, batch):
        def job():
            outcome = transitions.fire_many("approve", batch, actor, {}, now)
            db.session.commit()
            return outcome

        return job

    results, errors = run_threads(
        app, [approve(world["county1"], first), approve(world["county2"], second)]
    )
    assert errors == []
    succeeded = [i for r in results for i in r.succeeded]
    assert sorted(succeeded) == ids  # every case approved exactly once
    conflicts = [f for r in results for f in r.failed]
    assert len(conflicts) == 40 and {f["status"] for f in conflicts} == {409}
    assert count("approve") == 120
    assert audit.verify().ok


def test_signing_while_the_window_closes(app, world):
    now = set_now("2019-10-21T09:00:00+08:00")
    ids = cases.open_household_cases(
        world["township1"], [add_household(world["village1"]) for _ in range(40)], 2019, now
    )
    for trigger, payload in (("submit_survey", SURVEY), ("appraise", APPRAISAL)):
        transitions.fire_many(trigger, ids, world["village1"], payload, now)
    db.session.commit()
    window = publicity.post(
        world["village1"], VILLAGE, ids, {"phone": "1", "address": "a"}, None, now
    )
    closes_at = window.closes_at
    db.session.commit()
    later = closes_at + timedelta(hours=1)
    visit = {"result": "pass", "visited_on": later.date().isoformat()}

    def sweep():
        return publicity.sweep(later)

    def sign(actor):
        def job():
            done = 0
            for _ in range(3):  # before, during and after the close
                for case_id in ids:
                    outcome = transitions.fire_many("verify", [case_id], actor, visit, later)
                    db.session.commit()
                    done += len(outcome.succeeded)
            return done

        return job

    results, errors = run_threads(app, [sweep, sign(world["township1"]), sign(world["township2"])])
    assert errors == []
    assert count("close_window") == 40  # each case advanced by the window exactly once
    signoffs = db.session.scalar(select(func.count()).select_from(SignOff))
    assert signoffs == count("verify")  # no sign-off without its audit record, or the reverse
    per_case = db.session.execute(
        select(SignOff.case_id, SignOff.user_id, func.count()).group_by(
            SignOff.case_id, SignOff.user_id
        )
    ).all()
    assert all(n == 1 for *_, n in per_case)  # nobody signed a case twice
    assert audit.verify().ok
