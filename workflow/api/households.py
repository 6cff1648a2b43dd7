"""Households."""

from __future__ import annotations

from flask import request

from workflow import clock
from workflow.api import actor, body, bp, doc, load, page_args, schemas
from workflow.services import households


@bp.post("/households")
@doc(
    "Register a household (village and up). A head already registered is named only to "
    "its own village and township; anyone else gets one fixed 409 that names no household",
    schemas.HouseholdIn,
    status=201,
)
def create_household():
    data = load(schemas.HouseholdIn, body())
    household = households.register(actor(), data, clock.now())
    return households.to_dict(household, actor(), detail=True), 201


@bp.get("/households")
@doc("List households in the caller's region (ID numbers masked)", many=True)
def list_households():
    page, per_page = page_args()
    items, total = households.listing(
        actor(), request.args.get("village_code"), request.args.get("status"), page, per_page
    )
    return {
        "items": [households.to_dict(h, actor()) for h in items],
        "page": page,
        "per_page": per_page,
        "total": total,
    }


@bp.get("/households/<id:household_id>")
@doc("A household; full ID numbers only for its own village and township")
def get_household(household_id: int):
    return households.to_dict(households.get(actor(), household_id), actor(), detail=True)
