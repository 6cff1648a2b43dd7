"""WSGI entry point: gunicorn wsgi:app (forking workers never start schedulers)."""

from workflow import create_app

app = create_app()
