"""The OpenAPI 3 document, generated from the routes and their marshmallow schemas."""

from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app

from workflow.api import DOCS, bp

PROBLEM = {
    "description": "problem+json",
    "content": {
        "application/problem+json": {
            "schema": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "errors": {"type": "object"},
                },
            }
        }
    },
}


def build_spec() -> dict:
    """The OpenAPI document of every /api/v1 route."""
    spec = APISpec(
        title="exitflow API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/v1") or rule.endpoint == "api.openapi":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        note = DOCS.get(rule.endpoint, {"summary": rule.endpoint})
        params = [
            {
                "name": n,
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
                if f"id:{n}" in rule.rule
                else {"type": "string"},
            }
            for n in re.findall(r"{(\w+)}", path)
        ]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            op = {
                "summary": note["summary"],
                "operationId": rule.endpoint.split(".")[-1],
                "parameters": params,
                "responses": {
                    str(note.get("status", 200)): _response(note),
                    "400": PROBLEM,
                    "401": PROBLEM,
                    "403": PROBLEM,
                    "404": PROBLEM,
                    "409": PROBLEM,
                    "422": PROBLEM,
                },
            }
            if not note.get("public"):
                op["security"] = [{"bearer": []}]
            if note.get("request") is not None:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": note["request"]}},
                }
            spec.path(path=path, operations={method.lower(): op})
    return spec.to_dict()


def _response(note: dict) -> dict:
    if note.get("response") is None:
        return {
            "description": "OK",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    schema = note["response"]
    if note.get("many"):
        return {
            "description": "OK",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "items": {"type": "array", "items": schema},
                            "page": {"type": "integer"},
                            "per_page": {"type": "integer"},
                            "total": {"type": "integer"},
                        },
                    }
                }
            },
        }
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


@bp.get("/openapi.json")
def openapi():
    return build_spec()
