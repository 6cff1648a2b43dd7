"""Auth, regions and users."""

from __future__ import annotations

from flask import request

from workflow import clock
from workflow.api import actor, body, bp, doc, load, page_args, roles, schemas
from workflow.errors import ValidationFailed
from workflow.extensions import db
from workflow.models import Region
from workflow.security import LOGIN_PER_MINUTE, client_address, limited
from workflow.services import regions, users


@bp.post("/auth/token")
@limited("login", LOGIN_PER_MINUTE)  # per client address, with the web form's attempts
@doc(
    "Exchange a username and password for a bearer token",
    schemas.TokenRequest,
    schemas.TokenResponse,
    public=True,
)
def issue_token():
    data = load(schemas.TokenRequest, body())
    now = clock.now()
    user = users.authenticate(
        data["username"], data["password"], now, client=client_address(), via="api"
    )
    from flask import current_app

    token, expires = users.issue_token(user, now, current_app.config["EXITFLOW_TOKEN_HOURS"])
    return {"token": token, "expires_at": expires.isoformat()}


@bp.post("/regions")
@roles("admin")
@doc("Add a region (admin)", schemas.RegionIn, schemas.RegionOut, status=201)
def create_region():
    data = load(schemas.RegionIn, body())
    region = regions.create(actor(), data)
    return regions.to_dict(region), 201


@bp.get("/regions")
@doc(
    "List regions (filters level, parent_code); not for auditors",
    response_schema=schemas.RegionOut,
    many=True,
)
def list_regions():
    regions.check_reader(actor())
    page, per_page = page_args()
    query = db.select(Region)
    for key in ("level", "parent_code"):
        if request.args.get(key):
            query = query.where(getattr(Region, key) == request.args[key])
    total = db.session.scalar(db.select(db.func.count()).select_from(query.subquery()))
    items = db.session.scalars(
        query.order_by(Region.code).limit(per_page).offset((page - 1) * per_page)
    )
    return {
        "items": [regions.to_dict(r) for r in items],
        "page": page,
        "per_page": per_page,
        "total": total,
    }


@bp.get("/regions/<code>")
@doc(
    "A region; for the procedure roles with its incidence rate and the counts it comes "
    "from, as of the last refresh of the figures (at most two refresh intervals old; the "
    "exit guards count live) (not for admin or evaluators; auditors read no regions)",
    response_schema=schemas.RegionOut,
)
def get_region(code: str):
    who = actor()
    regions.check_reader(who)
    return regions.to_dict(regions.get(code), with_incidence=regions.sees_incidence(who))


@bp.post("/users")
@roles("admin")
@doc("Add a user (admin)", schemas.UserIn, status=201)
def create_user():
    data = load(schemas.UserIn, body())
    if data["role"] not in users.UNSCOPED and not data.get("region_code"):
        raise ValidationFailed("除管理员外须指定地区", {"region_code": ["required"]})
    user = users.create(
        data["username"],
        data["password"],
        data["role"],
        data["region_code"],
        data.get("display_name"),
        clock.now(),
        actor=actor(),
    )
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "region_code": user.region_code,
        "display_name": user.display_name,
    }, 201


@bp.post("/auth/revoke")
@doc("Revoke the bearer token of this request (logout)")
def revoke_token():
    who = actor()
    token = request.headers.get("Authorization", "")[7:].strip()
    users.revoke_token(token, who, clock.now())
    return {"revoked": True}


@bp.patch("/users/<username>")
@roles("admin")
@doc("Disable or enable a user (admin); disabling revokes every token at once", schemas.UserPatch)
def patch_user(username: str):
    data = load(schemas.UserPatch, body())
    user = users.set_active(username, data["active"], actor(), clock.now())
    return {"username": user.username, "active": user.active}
