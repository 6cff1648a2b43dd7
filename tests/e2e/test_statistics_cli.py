"""`exitflow seed-demo` ends with fresh dashboard statistics; their settings come from config."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import make_app
from workflow.errors import ConfigurationError
from workflow.extensions import db
from workflow.models import Region, User
from workflow.services import statistics
from workflow.services.actors import from_user


def test_seed_demo_refreshes_the_statistics(app, runner):
    result = runner.invoke(args=["seed-demo", "--households", "12", "--advance-to", "appraised"])
    assert result.exit_code == 0, result.output
    assert "statistics refreshed:" in result.output
    snap = statistics.snapshot()
    assert snap is not None and snap.rows > 0
    codes = list(db.session.scalars(select(Region.code)))
    county = db.session.scalar(select(User).where(User.username == "county1"))
    root = _root(db.session.get(Region, county.region_code))
    assert sorted(statistics.stored_rows(codes)) == sorted(statistics.live_rows(root, codes))
    view = statistics.dashboard(from_user(county), None, None, 1, snap.as_of)
    assert view["source"] == "fresh" and view["progress"] == {"appraised": 12}


def _root(region: Region) -> Region:
    while region.parent_code is not None:
        region = db.session.get(Region, region.parent_code)
    return region


def test_stats_settings_come_from_the_environment(tmp_path, request, monkeypatch):
    monkeypatch.setenv("EXITFLOW_STATS_SECONDS", "45")
    monkeypatch.setenv("EXITFLOW_STATS_LIVE_LIMIT", "1000")
    app = make_app("sqlite", tmp_path, request)
    assert statistics.settings(app.config) == (45.0, 1000)
    assert statistics.settings({}) == (60.0, 50_000)
    for bad in ({"EXITFLOW_STATS_SECONDS": "soon"}, {"EXITFLOW_STATS_LIVE_LIMIT": -5}):
        with pytest.raises(ConfigurationError):
            statistics.settings(bad)
    with app.app_context():
        db.engine.dispose()
