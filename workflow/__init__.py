"""exitflow: the Flask application of the poverty-exit procedures."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask, request

from workflow import clock
from workflow.errors import ConfigurationError, register_error_handlers
from workflow.extensions import db, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """The application factory (flaskr style): config, extensions, blueprints, commands."""
    from workflow import config as configuration

    instance = Path(
        (config or {}).get("INSTANCE_PATH")
        or os.environ.get("EXITFLOW_INSTANCE_PATH")
        or ROOT / "instance"
    )
    configuration.private_folder(instance)  # 0700: it holds the keys and the database
    app = Flask(
        __name__,
        instance_path=str(instance),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "workflow" / "web" / "static"),
    )
    app.config.update(configuration.load(instance, config))
    proxies = int(app.config.get("EXITFLOW_TRUSTED_PROXIES") or 0)
    if proxies:  # behind nginx: the client's address is X-Forwarded-For's, set by the proxy
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    if app.config.get("SEND_FILE_MAX_AGE_DEFAULT") is None:  # small static files, cached
        app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 3600
    if app.config["ALLOW_FAKE_CLOCK"] and app.config["EXITFLOW_ENV"] == "production":
        raise ConfigurationError("EXITFLOW_ALLOW_FAKE_CLOCK is refused in production configuration")
    clock.configure(app.config["ALLOW_FAKE_CLOCK"], app.config.get("EXITFLOW_NOW") or None)
    from workflow.services import users

    users.configure(app.config.get("EXITFLOW_PASSWORD_HASH") or "scrypt")
    from workflow import personal_data

    personal_data.configure(app.config.get("EXITFLOW_DATA_KEY"), instance)
    for noisy in ("weasyprint", "apscheduler"):  # progress lines every few seconds
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    with app.app_context():
        from workflow.database import configure_engine

        configure_engine(db.engine)

    from workflow import models  # noqa: F401 - registers the tables
    from workflow.api import register_api
    from workflow.cli import register_commands
    from workflow.database import set_read_only

    @app.before_request
    def _reads_take_no_lock():
        # GET and HEAD only read: on SQLite their transactions take no write lock.
        set_read_only(request.method in ("GET", "HEAD"))

    @app.teardown_request
    def _end_read_only(_exc):
        set_read_only(False)

    register_error_handlers(app)
    from workflow.security import harden

    harden(app)
    register_api(app)
    from workflow.web import register_web

    register_web(app)
    register_commands(app)
    _load_holidays(instance)
    return app


def _load_holidays(instance: Path) -> None:
    """Extra State Council holiday schedules a deployment adds as instance/holidays/YYYY.toml."""
    from states.calendar import load_holiday_file

    folder = instance / "holidays"
    if folder.is_dir():
        for file in sorted(folder.glob("*.toml")):
            load_holiday_file(file)
