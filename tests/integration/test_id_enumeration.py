"""Issue #10: the duplicate check must not tell anyone which full ID number is registered.

A county user sees only the masked number of a head registered in another county
(451099********NNNN: the birth date is hidden, about 4,000 valid candidates). The
import and POST /households refuse a duplicate the caller may not read in full with
one fixed answer naming no row and no number; every hit is audited; an account that
draws more than EXITFLOW_ID_PROBE_LIMIT refusals in an hour is disabled.

A request that is not refused answers "none of these is registered", so the
candidates could be split in halves (binary search: 12 requests, about 6 of them
refused) or tried one at a time (an account was never locked for a success). Now:

* a request holding 3 or more different numbers on one masked form (a few more in a
  large file, as chance allows) is refused as a probe pattern before the register
  is read, and counts toward the hourly lock: a file tries at most 2 candidates;
* a head whose masked form is held by someone the caller may not read in full is a
  near miss; more than EXITFLOW_ID_NEAR_MISS_LIMIT (5) different ones on one masked
  form in 24 hours disable the account before the locking request is answered.

IDs recoverable: an account tries at most 5 candidates of a masked number a day
(the 6th request is answered 403 and tells nothing) out of about 4,000, i.e. 0.125%
of an ID a day, about 400 account-days per ID on average; before, about 12 requests.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from datetime import date, timedelta

import pytest
from sqlalchemy import event, func, insert, select

from states.identity import check_digit, make_id_number, mask_id_number
from tests.factories import COUNTY, OTHER_VILLAGE, PASSWORD, VILLAGE, VILLAGE2, set_now
from workflow import clock, personal_data
from workflow.extensions import db
from workflow.models import AuditRecord, Household, Region, User
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


def twins(number: str, k: int) -> list[str]:
    """k other valid ID numbers with the same masked form (other birth dates)."""
    first17, out, day = number[:17], [], date(1950, 1, 1)
    while len(out) < k:
        other = f"{first17[:6]}{day:%Y%m%d}{first17[14:]}"
        if other != first17 and check_digit(other) == number[17]:
            out.append(other + number[17])
        day += timedelta(days=1)
    return out


def spread(count: int, area: str = COUNTY, avoid=(), born: date = date(1950, 1, 1)) -> list[str]:
    """count valid ID numbers of one area code, each on a masked form of its own."""
    out, used, i = [], {mask_id_number(n) for n in avoid}, 0
    while len(out) < count:
        number = make_id_number(area, born + timedelta(days=i // 1000), i % 1000)
        i += 1
        if mask_id_number(number) not in used:
            used.add(mask_id_number(number))
            out.append(number)
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


def post(client, headers, number: str, village: str = VILLAGE, members=()):
    values = value(number, village)
    values["members"] = [
        {"name": f"成员{k}", "relation": "子女", "id_number": m} for k, m in enumerate(members)
    ]
    return client.post("/api/v1/households", json=values, headers=headers)


def spying(statements: list[str], *needles: str):
    """Collect the SELECT statements that mention every needle, while the block runs."""

    def spy(_conn, _cursor, statement, *_args):
        if statement.lstrip().startswith("SELECT") and all(n in statement for n in needles):
            statements.append(statement)

    class Spy:
        def __enter__(self):
            event.listen(db.engine, "before_cursor_execute", spy)

        def __exit__(self, *_exc):
            event.remove(db.engine, "before_cursor_execute", spy)

    return Spy()


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


def test_a_file_with_a_duplicate_out_of_sight_names_no_row_and_locks_the_prober(
    client, far, caplog
):
    pool = candidates(mask_id_number(TARGET))
    assert TARGET in pool and 3500 < len(pool) < 4500
    decoy = pool[1234] if pool[1234] != TARGET else pool[1235]
    target_id = register_far(far, TARGET)
    decoy_id = register_far(far, decoy)
    before = count_households()
    h = login(client, "county1")
    pad = spread(300)  # ordinary heads of the county around the candidates

    lookups: list[str] = []
    near: list[str] = []
    with spying(lookups, "head_id_hash", "FROM households"), spying(near, "id_masked"):
        only_real = csv_of(pad + [TARGET])
        first = upload(client, h, only_real)
    # The register is asked once for the whole file, not once per row, and once more
    # for the near misses.
    assert len(lookups) == 1 and len(near) == 1
    only_decoy = csv_of(pad + [decoy])
    both = csv_of(pad[:150] + [TARGET] + pad[150:] + [decoy])
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
    # Each candidate sent is a near miss too (its masked form is held out of sight);
    # the ordinary heads around them are not.
    assert [r["near_misses"] for r in records(households.NEAR_MISS, "county1")] == [1, 1, 2]
    assert user("county1").active  # three refusals in the hour: still within the limit

    # The fourth refusal in the hour is one too many: a suspected probe.
    with caplog.at_level(logging.WARNING, logger="workflow.services.households"):
        fourth = upload(client, h, csv_of(pad + [TARGET]))
    assert fourth.status_code == 403
    assert fourth.get_json()["detail"] == households.LOCKED
    locked = user("county1")
    assert not locked.active and locked.disabled_reason.startswith("疑似身份证号探测")
    assert "2019-10-08 09:00" in locked.disabled_reason  # Beijing time, for the admin
    assert any(r.levelno == logging.WARNING and "county1" in r.getMessage() for r in caplog.records)
    assert len(records(households.HIT, "county1")) == 4
    lock = records(households.PROBE_LOCK, "county1")
    assert len(lock) == 1 and lock[0]["refused_in_window"] == 4 and lock[0]["limit"] == 3
    assert lock[0]["cause"] == "refused"
    # Its token no longer works, nor does signing in again.
    assert upload(client, h, csv_of([pool[5]])).status_code == 401
    again = client.post("/api/v1/auth/token", json={"username": "county1", "password": PASSWORD})
    assert again.status_code == 401
    assert count_households() == before
    no_full_number_anywhere(pool + pad)


def test_the_candidates_split_in_halves_are_refused_at_once_as_a_probe_pattern(client, far):
    pool = candidates(mask_id_number(TARGET))
    register_far(far, TARGET)
    before = count_households()
    h = login(client, "county1")
    half = len(pool) // 2
    first_half, second_half = csv_of(pool[:half]), csv_of(pool[half:])
    assert (TARGET in pool[:half]) != (TARGET in pool[half:])

    register_reads: list[str] = []
    with spying(register_reads, "FROM households"), spying(register_reads, "FROM members"):
        first = upload(client, h, first_half)
        second = upload(client, h, second_half)
    assert register_reads == []  # refused before the register is read at all
    for r in (first, second):
        assert r.status_code == 422
        assert r.get_json() == {
            "type": "about:blank",
            "title": "Invalid input",
            "status": 422,
            "detail": households.PATTERN_IMPORT,
            "errors": [],
            "imported": 0,
        }
    # The half with the registered number and the half without: the same bytes.
    assert first.get_data() == second.get_data()

    # Whatever else the file holds: an invalid number and a formula change nothing.
    mixed = csv_of(pool) + f"{VILLAGE},1组,=HYPERLINK(1),430623196501011235,,\n".encode()
    third = upload(client, h, mixed)
    assert third.status_code == 422 and third.get_data() == first.get_data()

    patterns = records(households.PATTERN, "county1")
    assert [(r["channel"], r["masked"], r["count"], r["threshold"]) for r in patterns] == [
        ("import", mask_id_number(TARGET), half, 7),
        ("import", mask_id_number(TARGET), len(pool) - half, 7),
        ("import", mask_id_number(TARGET), len(pool), 9),
    ]
    assert [r["file_sha256"] for r in patterns] == [
        hashlib.sha256(raw).hexdigest() for raw in (first_half, second_half, mixed)
    ]
    assert records(households.HIT) == [] and records(households.NEAR_MISS) == []
    assert user("county1").active

    # Even three candidates in a small file are a pattern; the fourth refusal of the
    # hour locks the account, like a refused duplicate.
    others = [n for n in pool if n != TARGET]
    fourth = upload(client, h, csv_of(spread(5) + others[:3]))
    assert fourth.status_code == 403 and fourth.get_json()["detail"] == households.LOCKED
    assert records(households.PATTERN, "county1")[-1]["count"] == 3
    assert not user("county1").active
    lock = records(households.PROBE_LOCK, "county1")
    assert [(r["cause"], r["refused_in_window"]) for r in lock] == [("refused", 4)]
    assert count_households() == before
    no_full_number_anywhere(pool)


def test_a_household_with_three_numbers_on_one_masked_form_is_refused(client, far):
    register_far(far, TARGET)
    c = [n for n in candidates(mask_id_number(TARGET)) if n != TARGET][:4]
    h = login(client, "county2")
    r = post(client, h, c[0], members=[c[1], c[2]])
    assert r.status_code == 422
    assert r.get_json() == {
        "type": "about:blank",
        "title": "Invalid input",
        "status": 422,
        "detail": households.PATTERN_REGISTER,
        "errors": {},
    }
    # Whatever else the request holds: an invalid member number too.
    again = post(client, h, c[0], members=[c[1], c[2], "430623196501011235"])
    assert again.status_code == 422 and again.get_data() == r.get_data()
    assert [p["count"] for p in records(households.PATTERN, "county2")] == [3, 3]
    assert records(households.HIT) == [] and records(households.NEAR_MISS) == []
    # Two numbers on one masked form are an ordinary household (the head: a near miss).
    ok = post(client, h, c[0], members=[c[3]])
    assert ok.status_code == 201
    assert [r["near_misses"] for r in records(households.NEAR_MISS, "county2")] == [1]
    assert user("county2").active
    no_full_number_anywhere(c)


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
    # Five different candidates of one masked form: at the near-miss limit, not over it.
    assert [r["near_misses"] for r in records(households.NEAR_MISS, "county2")] == [1] * 5
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
    assert records(households.HIT) == [] and records(households.NEAR_MISS) == []


def test_the_limit_is_configurable_and_counts_one_hour(app, client, far, monkeypatch):
    pool = candidates(mask_id_number(TARGET))
    taken = [register_far(far, n) for n in pool[:8]]
    assert len(taken) == 8
    # The hourly limit alone: 8 different numbers on one masked form would be near
    # misses enough to lock the account within the day (see the near-miss tests).
    monkeypatch.setitem(app.config, "EXITFLOW_ID_NEAR_MISS_LIMIT", 100)
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
    assert records(households.HIT) == [] and records(households.NEAR_MISS) == []
    no_full_number_anywhere(numbers + [member])


def test_candidates_registered_one_at_a_time_lock_the_account_after_five(client, far, caplog):
    register_far(far, TARGET)
    c = [n for n in candidates(mask_id_number(TARGET)) if n != TARGET][:7]
    h = login(client, "village1")  # a village clerk: it may not read the far county's numbers
    before = count_households()
    for number in c[:3]:
        assert post(client, h, number).status_code == 201  # "not registered": a success
    near: list[str] = []
    with spying(near, "id_masked"):
        r = upload(client, h, csv_of(spread(40) + c[3:5]))  # two more, in a file
    assert r.status_code == 201 and r.get_json()["imported"] == 42
    assert len(near) == 1  # one query for the whole file
    # The same number again (now its own village's household, named plainly) is
    # not a new near miss.
    again = post(client, h, c[0])
    assert again.status_code == 409 and "household_id" in again.get_json()
    assert user("village1").active
    assert count_households() == before + 45

    # The sixth different number on that masked form, here the registered one itself:
    # locked before the register is asked about it, so the answer (403, as for any
    # other candidate) says nothing about the number.
    with caplog.at_level(logging.WARNING, logger="workflow.services.households"):
        sixth = post(client, h, TARGET)
    assert sixth.status_code == 403 and sixth.get_json()["detail"] == households.LOCKED
    assert count_households() == before + 45  # not registered
    locked = user("village1")
    assert not locked.active
    assert locked.disabled_reason.startswith("疑似身份证号探测:24 小时内提交了 6 个")
    assert (
        mask_id_number(TARGET) in locked.disabled_reason and "上限 5 个" in locked.disabled_reason
    )
    assert any("village1" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    lock = records(households.PROBE_LOCK, "village1")
    assert [(r["cause"], r["near_misses"], r["masked"], r["limit"]) for r in lock] == [
        ("near_miss", 6, mask_id_number(TARGET), 5)
    ]
    misses = records(households.NEAR_MISS, "village1")
    assert [(r["channel"], r["near_misses"]) for r in misses] == [
        ("register", 1),
        ("register", 1),
        ("register", 1),
        ("import", 2),
        ("register", 1),
        ("register", 1),
    ]
    assert all(list(r["masked_forms"]) == [mask_id_number(TARGET)] for r in misses)
    assert [r["hits"] for r in records(households.HIT, "village1")] == [1]  # the plain one
    assert post(client, h, c[6]).status_code == 401  # its token is revoked
    no_full_number_anywhere(c + [TARGET])


def test_near_misses_count_different_numbers_per_masked_form_per_day(app, client, far):
    register_far(far, TARGET)
    c = [n for n in candidates(mask_id_number(TARGET)) if n != TARGET]
    app.config["EXITFLOW_ID_NEAR_MISS_LIMIT"] = 2
    assert households.near_miss_limit() == 2
    h = login(client, "county1")
    assert post(client, h, c[0]).status_code == 201
    assert post(client, h, c[1]).status_code == 201
    # A day later the window has moved on.
    set_now("2019-10-09T09:15:00+08:00")
    h = login(client, "county1")
    assert post(client, h, c[2]).status_code == 201
    assert post(client, h, c[3]).status_code == 201
    assert user("county1").active
    assert post(client, h, c[4]).status_code == 403
    assert "上限 2 个" in user("county1").disabled_reason
    # Re-enabled by the admin: counting starts again from the lock.
    users.set_active("county1", True)
    h = login(client, "county1")
    assert post(client, h, c[5]).status_code == 201
    assert user("county1").active

    app.config.pop("EXITFLOW_ID_NEAR_MISS_LIMIT")
    assert households.near_miss_limit() == households.NEAR_MISS_LIMIT == 5


def test_near_miss_limit_from_the_environment(app, monkeypatch):
    monkeypatch.setenv("EXITFLOW_ID_NEAR_MISS_LIMIT", "9")
    assert households.near_miss_limit() == 9
    monkeypatch.setenv("EXITFLOW_ID_NEAR_MISS_LIMIT", "-1")
    assert households.near_miss_limit() == 5


def test_an_honest_village_clerk_is_never_locked(client, world, far):
    register_far(far, TARGET)
    pool = spread(1100, avoid=[TARGET])  # each on a masked form of its own
    # Households of the neighbouring village: village1 may not read their numbers.
    theirs = pool[:12]
    h2 = login(client, "village2")
    for number in theirs:
        assert post(client, h2, number, VILLAGE2).status_code == 201

    h = login(client, "village1")
    for number in pool[12:32]:
        assert post(client, h, number).status_code == 201
    members = ";".join(f"家属{i}/子女/{n}" for i, n in enumerate(pool[42:52]))
    raw = csv_of(pool[32:41]) + f"{VILLAGE},2组,王五,{pool[41]},,{members}\n".encode()
    assert upload(client, h, raw).status_code == 201
    assert records(households.NEAR_MISS, "village1") == []  # different masked forms

    # Where the register is dense, an honest number often shares the masked form of
    # someone else's: one on each of 12 masked forms is no probe (a count of near
    # misses per account, not per masked form, would have locked the clerk at 6).
    for number in theirs:
        assert post(client, h, twins(number, 1)[0]).status_code == 201
    misses = records(households.NEAR_MISS, "village1")
    assert [r["near_misses"] for r in misses] == [1] * 12
    assert len({m for r in misses for m in r["masked_forms"]}) == 12
    assert user("village1").active

    # A birthday coincidence in a village-sized file (three numbers on one masked
    # form among about 1,000) is chance, not a pattern: imported.
    three = [pool[52], *twins(pool[52], 2)]
    rest = pool[53:]  # 1,047 numbers
    rows = "".join(
        f"{VILLAGE},3组,户主{i},{rest[i]},因病,甲/子女/{rest[333 + i]};乙/子女/{rest[666 + i]}\n"
        for i in range(333)
    )
    rows += "".join(f"{VILLAGE},3组,某{i},{n},因病,\n" for i, n in enumerate(three))
    assert households.pattern_threshold(999 + 3) == 6
    r = upload(client, h, (HEADER + rows).encode())
    assert r.status_code == 201 and r.get_json()["imported"] == 336
    assert records(households.PATTERN) == []
    assert user("village1").active
    # The same three in a small file are a pattern.
    small = upload(client, login(client, "township2"), csv_of(rest[1000:1007] + three))
    assert small.status_code == 422 and small.get_json()["detail"] == households.PATTERN_IMPORT
    assert [r["count"] for r in records(households.PATTERN)] == [3]


def test_the_own_township_is_not_counted_for_near_misses(client, world, far):
    own = spread(1, born=date(1945, 5, 5))[0]
    households.create(world["village1"], value(own), clock.now())
    far_member = make_id_number(FAR_COUNTY, date(1980, 8, 8), 321)
    far_household = value(spread(1, FAR_COUNTY)[0], FAR_VILLAGE, "李四")
    far_household["members"] = [{"name": "李五", "relation": "子女", "id_number": far_member}]
    households.create(far, far_household, clock.now())
    tries = twins(own, 9)

    # The township of the household's village may read its number in full: seven
    # numbers on its masked form are no near miss.
    h = login(client, "township1")
    for number in tries[:7]:
        assert post(client, h, number, VILLAGE2).status_code == 201
    assert records(households.NEAR_MISS, "township1") == []
    assert user("township1").active
    # Out of its region, a member's masked form counts like a head's.
    assert post(client, h, twins(far_member, 1)[0]).status_code == 201
    (miss,) = records(households.NEAR_MISS, "township1")
    assert list(miss["masked_forms"]) == [mask_id_number(far_member)]

    # Another village of the same township, another township: out of sight, counted.
    for username, village, number in (
        ("village2", VILLAGE2, tries[7]),
        ("township_other", OTHER_VILLAGE, tries[8]),
    ):
        assert post(client, login(client, username), number, village).status_code == 201
        (miss,) = records(households.NEAR_MISS, username)
        assert miss["masked_forms"].keys() == {mask_id_number(own)}
    no_full_number_anywhere([own, far_member, *tries])


def test_a_day_of_many_heads_in_one_area_raises_the_limit_by_what_chance_explains(client, far):
    # A register where every masked form the county user sends is taken out of sight.
    village = db.session.get(Region, FAR_VILLAGE)
    theirs = spread(1600, FAR_COUNTY)
    rows = []
    for number in theirs:
        forms = personal_data.protect(number)
        rows.append(
            {
                "village_code": FAR_VILLAGE,
                "region_path": village.path,
                "group": "1组",
                "head_name": "李四",
                "head_id_cipher": forms["cipher"],
                "head_id_hash": forms["hash"],
                "head_id_masked": forms["masked"],
                "status": "poor",
                "registered": True,
                "size": 1,
                "created_at": clock.now(),
            }
        )
    db.session.execute(insert(Household), rows)
    db.session.commit()
    target = theirs[0]
    c = twins(target, 7)
    h = login(client, "county1")
    # 1,605 heads, each on a masked form held out of sight, six of them on one:
    # chance puts 6 on some masked form in a day of 1,500 or more (limit 5 + 1).
    assert households.chance_bound(1605) == households.chance_bound(1606) == 7
    r = upload(client, h, csv_of([twins(n, 1)[0] for n in theirs[1:]] + c[:6]))
    assert r.status_code == 201, r.get_data(as_text=True)
    (miss,) = records(households.NEAR_MISS, "county1")
    assert miss["near_misses"] == 1605 and len(miss["masked_forms"][mask_id_number(target)]) == 6
    assert user("county1").active
    # The seventh is one too many even so.
    assert post(client, h, c[6]).status_code == 403
    (lock,) = records(households.PROBE_LOCK, "county1")
    assert (lock["near_misses"], lock["limit"]) == (7, 6)


def test_the_pattern_threshold_is_three_unless_chance_explains_more():
    assert [households.pattern_threshold(n) for n in (1, 31, 35)] == [3, 3, 3]
    assert [households.pattern_threshold(n) for n in (40, 1000, 10_000, 50_000)] == [4, 6, 12, 23]
    assert households.chance_bound(1200) == 6 and households.chance_bound(1500) == 7
