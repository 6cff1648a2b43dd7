"""The error hierarchy of exitflow, and the one place that maps it to HTTP (problem+json)."""

from __future__ import annotations

import logging

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

logger = logging.getLogger(__name__)


class ExitflowError(Exception):
    """Base of every error a user can be told about."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(ExitflowError):
    """The request could not be read (malformed JSON, wrong content type)."""


class PayloadTooLarge(ExitflowError):
    """A request body over its limit, refused before it is read."""

    status, title = 413, "Payload too large"


class Unauthenticated(ExitflowError):
    """No valid credentials."""

    status, title = 401, "Unauthenticated"


class Forbidden(ExitflowError):
    """The caller's role or region does not allow this."""

    status, title = 403, "Forbidden"


class NotFound(ExitflowError):
    """Unknown, or outside the caller's region."""

    status, title = 404, "Not found"


class Conflict(ExitflowError):
    """A version conflict or a state that does not allow the request."""

    status, title = 409, "Conflict"


class TransitionNotAllowed(Conflict):
    """A trigger refused by the state machine or a guard; `detail` says why."""

    title = "Transition not allowed"


class VersionConflict(Conflict):
    """A stale write: the case changed since the caller read it."""

    title = "Version conflict"


class ValidationFailed(ExitflowError):
    """Invalid input; `errors` maps each field to its messages."""

    status, title = 422, "Invalid input"

    def __init__(self, detail: str, errors: dict | None = None):
        super().__init__(detail, errors=errors or {})


class ConfigurationError(RuntimeError):
    """A configuration the application refuses to start with."""


def problem(status: int, title: str, detail: str, **extra) -> Response:
    """An application/problem+json response (RFC 9457)."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    text = json.dumps(body, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate echoed from the input: escape it
        text = json.dumps(body, ensure_ascii=True)
    return Response(text, status=status, mimetype="application/problem+json")


def megabytes(n: int) -> str:
    """A byte count for a message: 16 MB, 2 MB, 0.5 MB."""
    return f"{n / 1024 / 1024:g} MB"


def register_error_handlers(app: Flask) -> None:
    """Map the hierarchy (and stray HTTP errors) to problem+json; no stack traces to clients."""

    @app.errorhandler(ExitflowError)
    def _exitflow(err: ExitflowError):
        return problem(err.status, err.title, err.detail, **err.extra)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(err: RequestEntityTooLarge):
        # werkzeug refuses a body over MAX_CONTENT_LENGTH (uploads), or a form with too
        # many parts or too large fields, before reading it.
        from flask import current_app, request

        if not request.path.startswith("/api/"):
            return err
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        bound = f"(上传文件上限 {megabytes(limit)})" if limit else ""
        return problem(413, "Payload too large", f"请求体过大或表单字段过多{bound},未保存任何数据")

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        from flask import request

        if not request.path.startswith("/api/") and err.code and err.code < 500:
            return err
        return problem(err.code or 500, err.name, err.description or err.name)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        logger.exception("unhandled error")
        return problem(500, "Internal error", "服务器内部错误,请稍后重试 (internal error)")
