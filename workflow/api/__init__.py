"""The JSON API under /api/v1: schema.load -> service -> dump, nothing else."""

from __future__ import annotations

import json
import math
import re
from array import array
from functools import wraps
from itertools import accumulate

from flask import Blueprint, Flask, current_app, request
from marshmallow import Schema, ValidationError
from werkzeug.routing import IntegerConverter

from workflow import clock
from workflow.database import end_transaction
from workflow.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    ValidationFailed,
    megabytes,
)
from workflow.inputs import INT_MAX, INT_MIN, parse_int, text_problem
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


# JSON bodies: at most EXITFLOW_MAX_JSON_BYTES (checked before reading), nested at
# most this deep (checked before parsing: the parser recurses once per level).
MAX_JSON_DEPTH = 32
# Query-string values and path segments that are not ids.
MAX_QUERY_LENGTH = 200
MAX_PATH_LENGTH = 100


def body() -> dict:
    """The JSON object of the request, or a 400 (413 when too large) naming the problem."""
    if not request.is_json:
        raise BadRequest("请求体须为 JSON (Content-Type: application/json)")
    data = parse_json(_read_capped(_json_limit()))
    if not isinstance(data, dict):
        raise BadRequest("请求体须为 JSON 对象 (a JSON object is expected)")
    return data


def _json_limit() -> int:
    limit = int(current_app.config["EXITFLOW_MAX_JSON_BYTES"])
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    return limit


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"JSON 请求体过大(上限 {megabytes(limit)}),未读取也未保存任何数据")


def _read_capped(limit: int) -> bytes:
    """The body, read a chunk at a time and never past limit + 1 bytes (a chunked body
    has no Content-Length to check first)."""
    chunks, total = [], 0
    stream = request.stream
    while True:
        chunk = stream.read(min(64 * 1024, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = str.maketrans({"[": "\x01", "{": "\x01", "]": "\xff", "}": "\xff"})


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in a JSON text, without parsing it.

    Strings are removed first (a bracket inside one is text), then every opening
    bracket counts +1 and every closing one -1: the deepest running sum. Linear, no
    recursion; on malformed input it may over-count, never under-count what a parser
    would have to recurse into before failing.
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if not brackets:
        return 0
    return max(accumulate(array("b", brackets.translate(_BRACKET_STEP).encode("latin-1"))))


class _NotFinite(ValueError):
    """NaN, Infinity, or a number too large for a float (1e999)."""


def _no_constant(name: str):
    raise _NotFinite(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def parse_json(raw: bytes):
    """A JSON document within the limits: nesting at most MAX_JSON_DEPTH, finite numbers
    only (no NaN or Infinity, no 1e999); else a 400 in Chinese."""
    if not raw.strip():
        raise BadRequest("请求体为空,须为 JSON 对象 (empty body)")
    try:
        text = raw.decode(json.detect_encoding(raw))
    except (UnicodeDecodeError, LookupError):
        raise BadRequest("JSON 须为 UTF-8 编码 (invalid UTF-8)") from None
    if json_depth(text) > MAX_JSON_DEPTH:
        raise BadRequest(f"JSON 嵌套层数过多(上限 {MAX_JSON_DEPTH} 层)")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except _NotFinite:
        raise BadRequest("JSON 不接受 NaN、Infinity 或超出范围的数 (non-finite number)") from None
    except (ValueError, RecursionError):  # RecursionError: cannot happen below the depth cap
        raise BadRequest("JSON 格式错误 (malformed JSON)") from None


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
    """page (1 to 2**31-1) and per_page (1 to 1000) from the query string, or 422."""
    return query_int("page", 1, INT_MAX, default=1), query_int("per_page", 1, 1000, default=50)


def query_int(
    name: str, low: int = INT_MIN, high: int = INT_MAX, default: int | None = None
) -> int | None:
    """An integer query parameter within [low, high]; default when absent or blank; else
    422 (non-numeric, overlong or out of range: never a database overflow)."""
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return default
    value = parse_int(raw, low, high)
    if value is None:
        message = f"须为 {low} 到 {high} 之间的整数"
        raise ValidationFailed(f"查询参数 {name} {message}", {name: [message]})
    return value


@bp.before_request
def _refuse_large_json() -> None:
    """A JSON body over EXITFLOW_MAX_JSON_BYTES is refused by its Content-Length before
    anything else (authentication included) happens."""
    if request.method in ("POST", "PUT", "PATCH") and request.is_json:
        _json_limit()


@bp.before_request
def _check_query_and_path() -> None:
    """Every query parameter and path segment is bounded text (no control or bidi
    characters): a NUL would reach PostgreSQL as an error, a megabyte value the logs."""
    errors = {}
    for key, value in request.args.items(multi=True):
        problem = text_problem(key, 50) or text_problem(value, MAX_QUERY_LENGTH)
        if problem:
            errors[key[:50]] = [problem]
    if errors:
        raise ValidationFailed("查询参数有误", errors)
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and text_problem(value, MAX_PATH_LENGTH):
            raise NotFound("不存在 (not found)")


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
