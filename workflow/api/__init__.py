"""The JSON API under /api/v1: schema.load -> service -> dump, nothing else."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, Flask, current_app, request
from marshmallow import Schema, ValidationError
from werkzeug.routing import IntegerConverter

from workflow import clock
from workflow.database import end_transaction
from workflow.errors import BadRequest, Forbidden, Unauthenticated, ValidationFailed
from workflow.services import users
from workflow.services.actors import Actor, from_user

bp = Blueprint("api", __name__, url_prefix="/api/v1")
DOCS: dict[str, dict] = {}  # endpoint -> OpenAPI notes, read by openapi.py


def doc(
    summary: str,
    request_schema: type[Schema] | None = None,
    response_schema: type[Schema] | None = None,
    public: bool = False,
    many: bool = False,
    status: int = 200,
):
    """Record what OpenAPI should say of a view."""

    def mark(fn):
        DOCS[f"api.{fn.__name__}"] = {
            "summary": summary,
            "request": request_schema,
            "response": response_schema,
            "public": public,
            "many": many,
            "status": status,
        }
        return fn

    return mark


def body() -> dict:
    """The JSON object of the request, or a 400 naming the problem."""
    if not request.is_json:
        raise BadRequest("请求体须为 JSON (Content-Type: application/json)")
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("JSON 格式错误 (malformed JSON)")
    if not isinstance(data, dict):
        raise BadRequest("请求体须为 JSON 对象 (a JSON object is expected)")
    return data


def load(schema: type[Schema], data) -> dict:
    """Validate input with a schema; 422 with the errors per field."""
    try:
        return schema().load(data)
    except ValidationError as err:
        raise ValidationFailed("输入有误 (invalid input)", _flatten(err.messages)) from None


def _flatten(messages, prefix="") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                out.update(_flatten(value, name))
            else:
                out[name] = [str(v) for v in (value if isinstance(value, list) else [value])]
    else:
        out[prefix or "_schema"] = [str(m) for m in messages]
    return out


def actor() -> Actor:
    """The authenticated caller (bearer token or web session), or 401."""
    # Cached on the request (not `g`, which outlives a request inside a test's app context).
    cached = request.environ.get("exitflow.actor")
    if cached is not None:
        return cached
    header = request.headers.get("Authorization", "")
    user = None
    if header.startswith("Bearer "):
        user = users.user_for_token(header[7:].strip(), clock.now())
    if user is None and not header and request.method == "GET":
        # Pages link to PDFs and reads here; a signed-in session may read (never write:
        # a cookie-authenticated POST would be open to cross-site request forgery).
        from workflow.web.session import web_actor

        session_actor = web_actor()
        if session_actor is not None:
            request.environ["exitflow.actor"] = session_actor
            return session_actor
    if user is None:
        raise Unauthenticated("需要登录 (missing or expired token)")
    request.environ["exitflow.actor"] = from_user(user)
    if request.method not in ("GET", "HEAD"):
        # The request body is read and validated next, with no transaction (and on
        # SQLite no write lock) held; the service opens its own.
        end_transaction()
    return request.environ["exitflow.actor"]


def optional_actor() -> Actor | None:
    """The caller when credentials were sent, else None (public endpoints)."""
    try:
        return actor()
    except Unauthenticated:
        return None


def roles(*allowed: str):
    """Deny by default: only these roles reach the view."""

    def wrap(fn):
        @wraps(fn)
        def inner(*args, **kwargs):
            if actor().role not in allowed:
                raise Forbidden(f"角色 {actor().role} 无权进行此操作 (role not allowed)")
            return fn(*args, **kwargs)

        return inner

    return wrap


def page_args() -> tuple[int, int]:
    """page and per_page (max 1000) from the query string."""
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", 50))
    except ValueError:
        raise ValidationFailed("分页参数须为整数", {"page": ["integer"]}) from None
    if page < 1 or not 1 <= per_page <= 1000:
        raise ValidationFailed("分页参数超出范围", {"per_page": ["1..1000"], "page": [">= 1"]})
    return page, per_page


class IdConverter(IntegerConverter):
    """Row ids: 1 to 2**31-1, so an overlong number is a 404, never a database overflow."""

    def __init__(self, url_map, *args, **kwargs):
        super().__init__(url_map, min=1, max=2**31 - 1)


def register_api(app: Flask) -> None:
    """Attach the API blueprint."""
    app.url_map.converters["id"] = IdConverter
    from workflow.api import (  # noqa: F401 - route modules register on bp
        audit,
        cases,
        evaluations,
        households,
        imports,
        openapi,
        publicity,
        regions,
        testing,
    )

    app.register_blueprint(bp)


def public_url(path: str) -> str:
    """An absolute URL for printing on paper (notices, QR codes)."""
    return current_app.config["EXITFLOW_PUBLIC_URL"].rstrip("/") + path
