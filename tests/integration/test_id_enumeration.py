"""Issue #10: the duplicate check must not tell anyone which full ID number is registered.

A county user sees only the masked number of a head registered in another county
(451099********NNNN: the birth date is hidden, about 4,000 valid candidates). The
import and POST /households refuse a duplicate the caller may not read in full with
one fixed answer naming no row and no number; every hit is audited; an account that
draws more than EXITFLOW_ID_PROBE_LIMIT refusals in an hour is disabled.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from datetime import date, timedelta

import pytest
from sqlalchemy import event, func, select

from states.identity import check_digit, make_id_number, mask_id_number
from tests.factories import COUNTY, OTHER_VILLAGE, PASSWORD, VILLAGE, VILLAGE2, set_now
from workflow import clock
from workflow.extensions import db
from workflow.models import AuditRecord, Household, User
from workflow.services import households, regions, users
from workflow.services.actors import from_user

HEADER = "村代码,村民小组,户主姓名,户主身份证号,致贫原因,家庭成员\n"
FAR_COUNTY, FAR_TOWNSHIP, FAR_VILLAGE = "430624", "430624100000", "430624100201"
# The number the attacker wants: registered in another county, seen masked.
TARGET = make_id_number("451099", date(1975, 6, 15), 199)


def candidates(masked_of: str) -> list[str]:
    """Every valid ID number with this masked form: each birth date whose checksum fits."""
    prefix, tail = masked_of[:6], masked_of[-4:]
    out, day = [], date(1900, 1, 1)
    while day <= date(2019, 10, 8):
        first17 = f"{prefix}{day:%Y%m%d}{tail[:3]}"
        if check_digit(first17) == tail[3]:
            out.append(first17 + tail[3])
        day += timedelta(days=1)
    return out


def value(number: str, village: str = VILLAGE, name: str = "张三") -> dict:
    return {
        "village_code": village,
        "group": "一组",
        "head_name": name,
        "head_id_number": number,
        "members": [],
        "poverty_cause": "因病",
    }


@pytest.fixture
def far(world):
    """Another county of the same city, with a village clerk who registers households there."""
    regions.add_many(
        [
            dict(code=FAR_COUNTY, name="湘阴县", level="county", parent_code="430600"),
            dict(code=FAR_TOWNSHIP, name="东塘镇", level="township", parent_code=FAR_COUNTY),
            dict(
                code=FAR_VILLAGE,
                name="东塘村",
                level="village",
                parent_code=FAR_TOWNSHIP,
                rural_population=700,
            ),
        ]
    )
    clerk = from_user(
        users.create("far_village", PASSWORD, "village", FAR_VILLAGE, "远村", clock.now())
    )
    return clerk


def register_far(clerk, number: str) -> int:
    return households.create(clerk, value(number, FAR_VILLAGE, "李四"), clock.now()).id


def login(client, username: str) -> dict:
    r = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.get_data(as_text=True)
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def upload(client, headers, raw: bytes, name: str = "h.csv"):
    return client.post(
        "/api/v1/imports/households",
        headers=headers,
        data={"file": (io.BytesIO(raw), name)},
    )


def csv_of(numbers: list[str], village: str = VILLAGE) -> bytes:
    lines = "".join(f"{village},1组,户主{i},{n},因病,\n" for i, n in enumerate(numbers))
    return (HEADER + lines).encode("utf-8")


def count_households() -> int:
    return db.session.scalar(select(func.count()).select_from(Household))


def records(trigger: str, username: str | None = None) -> list[dict]:
    query = select(AuditRecord).where(AuditRecord.trigger == trigger).order_by(AuditRecord.id)
    if username:
        query = query.where(AuditRecord.actor_username == username)
    return [
        {"actor": r.actor_username, "kind": r.kind, "at": r.at, **json.loads(r.data_json)}
        for r in db.session.scalars(query)
    ]


def user(username: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


def no_full_number_anywhere(numbers: list[str]) -> None:
    """No audit record holds a full ID number (masked forms only)."""
    texts = "\n".join(db.session.scalars(select(AuditRecord.data_json)))
    assert not [n for n in numbers if n in texts]


def test_a_file_of_every_candidate_names_no_row_and_locks_the_prober(client, far, caplog):
    pool = candidates(mask_id_number(TARGET))
    assert TARGET in pool and 3500 < len(pool) < 4500
    decoy = pool[1234] if pool[1234] != TARGET else pool[1235]
    target_id = register_far(far, TARGET)
    decoy_id = register_far(far, decoy)
    before = count_households()
    h = login(client, "county1")

    statements: list[str] = []

    def spy(_conn, _cursor, statement, *_args):
        if "head_id_hash" in statement and "FROM households" in statement:
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", spy)
    try:
        only_real = csv_of([n for n in pool if n != decoy])
        first = upload(client, h, only_real)
    finally:
        event.remove(db.engine, "before_cursor_execute", spy)
    # The register is asked once for the whole file, not once per row.
    assert len(statements) == 1
    only_decoy = csv_of([n for n in pool if n != TARGET])
    both = csv_of(pool)
    second = upload(client, h, only_decoy)
    third = upload(client, h, both)

    for r in (first, second, third):
        assert r.status_code == 422
        assert r.mimetype == "application/problem+json"
    # Byte for byte the same answer, whichever candidate matched and however many.
    assert first.get_data() == second.get_data() == third.get_data()
    body = first.get_json()
    assert body["detail"] == households.REFUSED_IMPORT
    assert body["errors"] == [] and body["imported"] == 0
    text = first.get_data(as_text=True)
    assert TARGET not in text and decoy not in text and "行" in body["detail"]
    assert set(body) == {"type", "title", "status", "detail", "errors", "imported"}
    assert not any(ch.isdigit() for ch in body["detail"])  # no row, no count, no number
    assert count_households() == before  # nothing imported

    hits = records(households.HIT, "county1")
    assert [(r["answer"], r["hits"], r["household_ids"]) for r in hits] == [
        ("refused", 1, [target_id]),
        ("refused", 1, [decoy_id]),
        ("refused", 2, sorted([target_id, decoy_id])),
    ]
    assert [r["file_sha256"] for r in hits] == [
        hashlib.sha256(raw).hexdigest() for raw in (only_real, only_decoy, both)
    ]
    assert all(r["kind"] == "household" and r["channel"] == "import" for r in hits)
    assert user("county1").active  # three refusals in the hour: still within the limit

    # The fourth refusal in the hour is one too many: a suspected probe.
    with caplog.at_level(logging.WARNING, logger="workflow.services.households"):
        fourth = upload(client, h, csv_of(pool[:2000] + [TARGET]))
    assert fourth.status_code == 403
    assert fourth.get_json()["detail"] == households.LOCKED
    locked = user("county1")
    assert not locked.active and locked.disabled_reason.startswith("疑似身份证号探测")
    assert "2019-10-08 09:00" in locked.disabled_reason  # Beijing time, for the admin
    assert any(r.levelno == logging.WARNING and "county1" in r.getMessage() for r in caplog.records)
    assert len(records(households.HIT, "county1")) == 4
    lock = records(households.PROBE_LOCK, "county1")
    assert len(lock) == 1 and lock[0]["refused_in_window"] == 4 and lock[0]["limit"] == 3
    # Its token no longer works, nor does signing in again.
    assert upload(client, h, csv_of([pool[5]])).status_code == 401
    again = client.post("/api/v1/auth/token", json={"username": "county1", "password": PASSWORD})
    assert again.status_code == 401
    assert count_households() == before
    no_full_number_anywhere(pool)


def test_one_number_at_a_time_is_refused_alike_and_bounded_by_the_lock(client, far):
    pool = candidates(mask_id_number(TARGET))
    others = [n for n in pool if n != TARGET]
    target_id = register_far(far, TARGET)
    decoy_ids = [register_far(far, n) for n in others[:3]]
    h = login(client, "county2")

    def post(number):
        return client.post("/api/v1/households", json=value(number), headers=h)

    real = post(TARGET)
    decoy = post(others[0])
    assert real.status_code == decoy.status_code == 409
    assert real.get_data() == decoy.get_data()  # the same bytes for either number
    assert real.get_json()["detail"] == households.REFUSED_REGISTER
    assert "household_id" not in real.get_json()

    # A number registered nowhere is registered: the register stays unique.
    free = post(others[100])
    assert free.status_code == 201
    assert free.get_json()["head_id_number"] == mask_id_number(others[100])
    registered = records("register_household", "county2")
    assert registered == [
        {
            "actor": "county2",
            "kind": "household",
            "at": registered[0]["at"],
            "household_id": free.get_json()["id"],
            "head_id_masked": mask_id_number(others[100]),
            "village_code": VILLAGE,
            "size": 1,
        }
    ]

    assert post(others[1]).status_code == 409  # the third refusal: the limit
    assert user("county2").active
    fourth = post(others[2])
    assert fourth.status_code == 403 and fourth.get_json()["detail"] == households.LOCKED
    assert not user("county2").active
    assert post(others[200]).status_code == 401  # token revoked
    hits = records(households.HIT, "county2")
    assert [(r["channel"], r["answer"], r["household_ids"]) for r in hits] == [
        ("register", "refused", [target_id]),
        ("register", "refused", [decoy_ids[0]]),
        ("register", "refused", [decoy_ids[1]]),
        ("register", "refused", [decoy_ids[2]]),
    ]
    assert len(records(households.PROBE_LOCK, "county2")) == 1
    no_full_number_anywhere(pool)


def test_the_own_village_and_township_see_the_conflict_plainly(client, world, far):
    number = make_id_number(COUNTY, date(1958, 3, 3), 421)
    own = households.create(world["village1"], value(number), clock.now()).id
    fresh = [make_id_number(COUNTY, date(1970, 1, 1 + i), 600 + i) for i in range(2)]
    before = count_households()

    h = login(client, "township1")
    r = upload(client, h, csv_of([fresh[0], number, fresh[1]]))
    assert r.status_code == 422
    assert r.get_json()["imported"] == 0
    assert r.get_json()["errors"] == [
        {
            "row": 3,
            "column": "户主身份证号",
            "message": f"该户主已登记(贫困户 {own},村代码 {VILLAGE})",
        }
    ]
    assert count_households() == before
    for username in ("township1", "village1"):
        r = client.post("/api/v1/households", json=value(number), headers=login(client, username))
        assert r.status_code == 409 and r.get_json()["household_id"] == own
        assert mask_id_number(number) in r.get_json()["detail"]
    plain = records(households.HIT)
    assert [(r["actor"], r["channel"], r["answer"], r["household_ids"]) for r in plain] == [
        ("township1", "import", "plain", [own]),
        ("township1", "register", "plain", [own]),
        ("village1", "register", "plain", [own]),
    ]
    # Plain answers are no probe: township1 may ask as often as it needs.
    for _ in range(5):
        assert upload(client, h, csv_of([number])).status_code == 422
    assert user("township1").active

    # Anyone who may not read the number in full gets the one fixed answer: another
    # village of the same township, another township, and the county itself.
    for username, village in (
        ("village2", VILLAGE2),
        ("township_other", OTHER_VILLAGE),
        ("county1", VILLAGE),
    ):
        r = client.post(
            "/api/v1/households", json=value(number, village), headers=login(client, username)
        )
        assert r.status_code == 409, username
        assert r.get_json() == {
            "type": "about:blank",
            "title": "Conflict",
            "status": 409,
            "detail": households.REFUSED_REGISTER,
        }
    assert count_households() == before


def test_a_file_refused_for_another_reason_never_consults_the_register(client, far):
    register_far(far, TARGET)
    h = login(client, "county1")
    raw = csv_of([TARGET]) + f"{VILLAGE},1组,王五,430623196501011235,,\n".encode()
    r = upload(client, h, raw)
    assert r.status_code == 422
    assert [(e["row"], e["column"]) for e in r.get_json()["errors"]] == [(3, "户主身份证号")]
    assert records(households.HIT) == []
    # The same for a single registration that fails validation.
    bad = value(TARGET)
    bad["members"] = [{"name": "甲", "relation": "子女", "id_number": "430623196501011235"}]
    assert client.post("/api/v1/households", json=bad, headers=h).status_code == 422
    assert records(households.HIT) == []


def test_the_limit_is_configurable_and_counts_one_hour(app, client, far, monkeypatch):
    pool = candidates(mask_id_number(TARGET))
    taken = [register_far(far, n) for n in pool[:8]]
    assert len(taken) == 8
    h = login(client, "county3")

    def post(i, headers=h):
        return client.post("/api/v1/households", json=value(pool[i]), headers=headers)

    for i in range(3):
        assert post(i).status_code == 409
    # An hour later the earlier refusals no longer count.
    set_now("2019-10-08T10:01:00+08:00")
    h = login(client, "county3")
    for i in range(3, 6):
        assert post(i, h).status_code == 409
    assert user("county3").active
    assert post(6, h).status_code == 403
    assert "4 次" in user("county3").disabled_reason

    # The admin re-enables the account: counting starts again from the lock.
    users.set_active("county3", True)
    h = login(client, "county3")
    assert post(7, h).status_code == 409
    assert user("county3").active

    # EXITFLOW_ID_PROBE_LIMIT from the environment, or from the app's configuration.
    monkeypatch.setenv("EXITFLOW_ID_PROBE_LIMIT", "0")
    assert households.probe_limit() == 0
    h4 = login(client, "county4")
    assert post(0, h4).status_code == 403
    monkeypatch.setitem(app.config, "EXITFLOW_ID_PROBE_LIMIT", 5)
    assert households.probe_limit() == 5
    monkeypatch.setenv("EXITFLOW_ID_PROBE_LIMIT", "many")
    app.config.pop("EXITFLOW_ID_PROBE_LIMIT")
    assert households.probe_limit() == households.PROBE_LIMIT


def test_imports_and_registrations_are_audited(client, world):
    numbers = [make_id_number(COUNTY, date(1966, 2, 1 + i), 300 + i) for i in range(3)]
    member = make_id_number(COUNTY, date(1990, 5, 5), 777)
    raw = (
        HEADER
        + f"{VILLAGE},1组,甲,{numbers[0]},因病,乙/配偶/{member}\n"
        + f"{VILLAGE2},2组,丙,{numbers[1]},因学,\n"
    ).encode("utf-8")
    r = upload(client, login(client, "township1"), raw)
    assert r.status_code == 201 and r.get_json()["imported"] == 2
    (record,) = records("import_households")
    assert record["actor"] == "township1" and record["kind"] == "household"
    assert record["households"] == 2 and record["members"] == 1
    assert record["villages"] == {VILLAGE: 1, VILLAGE2: 1}
    assert record["file_sha256"] == hashlib.sha256(raw).hexdigest()
    r = client.post("/api/v1/households", json=value(numbers[2]), headers=login(client, "village1"))
    assert r.status_code == 201
    (registered,) = records("register_household")
    assert registered["head_id_masked"] == mask_id_number(numbers[2])
    assert (
        registered["village_code"] == VILLAGE and registered["household_id"] == r.get_json()["id"]
    )
    assert records(households.HIT) == []
    no_full_number_anywhere(numbers + [member])
