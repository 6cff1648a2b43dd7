"""Rate limits and login-failure counters shared by every worker: Redis or the database.

Two Flask application instances stand for two gunicorn workers: they share one
database (one SQLite file, or PostgreSQL) and, when configured, one Redis.
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import datetime

import pytest
import redis
from sqlalchemy import func, select

from tests.conftest import make_app
from tests.factories import PASSWORD, build_world
from workflow import clock
from workflow.extensions import db
from workflow.models.users import LoginLock, RateCounter
from workflow.security import Count, counters, reset_limits

REDIS_URL = os.environ.get("EXITFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START = datetime.fromisoformat("2019-10-08T09:00:00+08:00")
LIMITS = {"public_read": 4, "login": 1000, "objections": 1000}


def _drop_keys(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own on the shared Redis (never FLUSHALL)."""
    prefix = f"exitflow-test:{uuid.uuid4().hex}:"
    yield prefix
    _drop_keys(prefix)


@pytest.fixture(params=["database", "redis"])
def workers(request, app, backend, tmp_path):
    """(first app, second app, store): two workers on one database (and one Redis)."""
    extra = {"EXITFLOW_RATE_LIMITS": dict(LIMITS)}
    prefix = None
    if request.param == "redis":
        prefix = f"exitflow-test:{uuid.uuid4().hex}:"
        extra.update(EXITFLOW_REDIS_URL=REDIS_URL, EXITFLOW_REDIS_PREFIX=prefix)
    app.config.update(extra)
    second = make_app(backend, tmp_path, request, extra)
    clock.set_fake_now(START)  # a new app resets the process's fake clock
    yield app, second, request.param
    with second.app_context():
        db.session.remove()
        db.engine.dispose()
    if prefix:
        _drop_keys(prefix)


def _notice(client, address="10.1.1.1"):
    return client.get("/api/v1/notices/NOPE", environ_base={"REMOTE_ADDR": address}).status_code


def _rows() -> int:
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(RateCounter))


def test_two_workers_share_one_limit(workers):
    first, second, store = workers
    one, two = first.test_client(), second.test_client()
    assert [_notice(one) for _ in range(3)] == [404, 404, 404]
    # The second worker sees the first one's three hits: one more is allowed, then 429.
    assert _notice(two) == 404
    assert _notice(two) == 429
    assert _notice(one) == 429
    assert _notice(one, "10.1.1.2") == 404  # another client has its own allowance
    assert counters(first).backend == counters(second).backend == store
    if store == "redis":
        prefix = first.config["EXITFLOW_REDIS_PREFIX"]
        keys = redis.Redis.from_url(REDIS_URL).keys(prefix + "*")
        assert any(b"rate:public_read:10.1.1.1" in k for k in keys)
        assert _rows() == 0  # nothing went to the database
    else:
        assert _rows() == 2  # one window for each of the two clients


def test_two_workers_share_login_failures_and_locks(workers):
    first, second, store = workers
    build_world()
    one, two = first.test_client(), second.test_client()

    def token(client, password, address="10.2.2.2"):
        return client.post(
            "/api/v1/auth/token",
            json={"username": "village1", "password": password},
            environ_base={"REMOTE_ADDR": address},
        ).status_code

    # Five failures from one address, spread over both workers, lock that address out.
    assert [token(one, "wrong-1"), token(one, "wrong-2"), token(one, "wrong-3")] == [401] * 3
    assert [token(two, "wrong-4"), token(two, "wrong-5")] == [401] * 2
    assert token(one, PASSWORD) == 401 and token(two, PASSWORD) == 401
    assert token(two, PASSWORD, "10.2.2.3") == 200  # the owner elsewhere is not locked out
    db.session.commit()
    lock = db.session.scalar(select(LoginLock))
    assert (lock.scope, lock.username, lock.client, lock.failures) == (
        "pair",
        "village1",
        "10.2.2.2",
        5,
    )
    assert counters(first).backend == store


def test_a_redis_that_is_down_falls_back_to_the_database_and_warns_once(app, caplog):
    app.config.update(
        EXITFLOW_REDIS_URL="redis://127.0.0.1:1/0",  # nothing listens there
        EXITFLOW_REDIS_PREFIX=f"exitflow-test:{uuid.uuid4().hex}:",
        EXITFLOW_RATE_LIMITS={"public_read": 3},
    )
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="workflow.security"):
        codes = [_notice(client) for _ in range(5)]
    assert codes == [404, 404, 404, 429, 429]  # the limit still holds
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1
    assert counters().backend == "database"
    assert _rows() == 1


def test_a_redis_that_comes_back_is_used_again(app, redis_prefix, caplog):
    app.config.update(EXITFLOW_REDIS_URL=REDIS_URL, EXITFLOW_REDIS_PREFIX=redis_prefix)
    store = counters()
    good = store.redis.client
    store.redis.client = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    assert store.hit("probe", 60).current == 1  # counted in the database
    assert store.backend == "database"
    store.redis.client = good
    store.forget_outage()  # as after REDIS_RETRY_SECONDS
    with caplog.at_level(logging.INFO, logger="workflow.security"):
        assert store.hit("probe", 60).current == 1  # a fresh count in Redis
    assert store.backend == "redis"
    assert redis.Redis.from_url(REDIS_URL).keys(redis_prefix + "count:probe:*")


@pytest.mark.parametrize("store", ["database", "redis"])
def test_sliding_window_weighs_the_previous_window(app, store, redis_prefix):
    if store == "redis":
        app.config.update(EXITFLOW_REDIS_URL=REDIS_URL, EXITFLOW_REDIS_PREFIX=redis_prefix)
    counter = counters()
    t0 = 1_570_496_400  # a minute boundary
    for _ in range(10):
        counter.hit("b", 60, t0 + 5)
    assert counter.peek("b", 60, t0 + 59).estimate == 10
    for _ in range(3):
        last = counter.hit("b", 60, t0 + 90)
    # Half of the previous minute still overlaps the last 60 seconds.
    assert (last.current, last.previous) == (3, 10) and last.estimate == 8.0
    assert last.retry_after(5) == 18  # 10 * (1 - (30 + 18) / 60) + 3 = 5
    assert counter.peek("b", 60, t0 + 200).estimate == 0  # two minutes on: all forgotten
    counter.clear("b", 60, t0 + 90)
    assert counter.peek("b", 60, t0 + 90).estimate == 0
    assert counter.backend == store


def test_retry_after_and_estimate():
    assert Count(6, 0, 10, 60).retry_after(5) == 50  # this minute is over the limit alone
    assert Count(0, 0, 0, 60).estimate == 0
    assert Count(2, 4, 15, 60).estimate == 5.0


@pytest.mark.parametrize("store", ["database", "redis"])
def test_reset_limits_forgets_every_count(app, store, redis_prefix):
    if store == "redis":
        app.config.update(EXITFLOW_REDIS_URL=REDIS_URL, EXITFLOW_REDIS_PREFIX=redis_prefix)
    app.config["EXITFLOW_RATE_LIMITS"] = {"public_read": 1}
    client = app.test_client()
    assert [_notice(client), _notice(client)] == [404, 429]
    reset_limits()
    assert _notice(client) == 404
