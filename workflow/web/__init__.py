"""HTML pages for the users (the full web app grows here)."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

from workflow import clock
from workflow.extensions import db
from workflow.models import Case, PublicityWindow

bp = Blueprint("web", __name__)


@bp.get("/")
def index():
    """The front page: what exitflow is and the open publicity windows."""
    now = clock.now()
    windows = db.session.scalars(
        db.select(PublicityWindow)
        .where(PublicityWindow.closed_at.is_(None), PublicityWindow.closes_at > now)
        .order_by(PublicityWindow.closes_at)
        .limit(50)
    ).all()
    counts = dict(
        db.session.execute(db.select(Case.state, db.func.count()).group_by(Case.state)).all()
    )
    return render_template("web/index.html", windows=windows, counts=counts)


def register_web(app: Flask) -> None:
    """Attach the pages."""
    app.register_blueprint(bp)
