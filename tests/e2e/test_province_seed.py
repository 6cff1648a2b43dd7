"""seed-demo --province: a synthetic province loaded in bulk, every case audited."""

from __future__ import annotations

from sqlalchemy import func, select

from workflow.extensions import db
from workflow.models import AuditRecord, Case, Household, Member, Region, User


def test_a_small_province_loads_with_its_users_and_audit_chains(runner):
    result = runner.invoke(
        args=["seed-demo", "--province", "--counties", "3", "--households", "900"]
    )
    assert result.exit_code == 0, result.output
    levels = dict(
        db.session.execute(select(Region.level, func.count()).group_by(Region.level)).all()
    )
    assert levels["province"] == 1 and levels["county"] == 3 and levels["city"] == 3
    assert levels["township"] >= 30 and levels["village"] >= 12 * levels["township"]
    assert db.session.scalar(select(func.count()).select_from(Household)) == 900
    people = db.session.scalar(select(func.sum(Household.size)))
    assert db.session.scalar(select(func.count()).select_from(Member)) == people - 900
    states = dict(db.session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
    assert sum(states.values()) == 900 and len(states) >= 5  # spread across the states
    exited = db.session.scalar(select(func.count()).where(Household.status == "exited"))
    assert exited == states.get("exited", 0)
    counties = list(
        db.session.scalars(
            select(Region.code).where(Region.level == "county").order_by(Region.code)
        )
    )
    owners = dict(db.session.execute(select(User.username, User.region_code)).all())
    assert [owners[f"county{i}"] for i in (1, 2, 3)] == counties
    assert owners["village1"].startswith(counties[0]) and owners["township1"][:6] == counties[0]
    # One chain per county, one record per case, and they verify.
    chains = dict(
        db.session.execute(
            select(AuditRecord.chain, func.count()).group_by(AuditRecord.chain)
        ).all()
    )
    assert {c: n for c, n in chains.items() if c in counties} == {
        c: db.session.scalar(select(func.count()).where(Case.region_path.like(f"%/{c}/%")))
        for c in counties
    }
    verified = runner.invoke(args=["verify-audit", "--full"])
    assert verified.exit_code == 0 and "900 record(s)" in verified.output


def test_loading_at_a_state_and_refusing_a_second_province_with_the_same_users(runner):
    result = runner.invoke(
        args=[
            "seed-demo",
            "--province",
            "--counties",
            "2",
            "--households",
            "100",
            "--advance-to",
            "county_review",
        ]
    )
    assert result.exit_code == 0, result.output
    states = dict(db.session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
    assert states == {"county_review": 100}
    again = runner.invoke(args=["seed-demo", "--province", "--counties", "2", "--households", "10"])
    assert again.exit_code == 1 and "已存在" in again.output
    bad = runner.invoke(
        args=[
            "seed-demo",
            "--province",
            "--counties",
            "1",
            "--households",
            "10",
            "--advance-to",
            "village_publicity",
        ]
    )
    assert bad.exit_code == 1 and "状态" in bad.output
