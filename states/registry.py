"""Every procedure exitflow runs, by kind; a new procedure is one more entry here."""

from __future__ import annotations

from states import county_exit, household_exit, village_exit
from states.procedure import Procedure

PROCEDURES: dict[str, Procedure] = {
    p.kind: p for p in (household_exit.PROCEDURE, village_exit.PROCEDURE, county_exit.PROCEDURE)
}


def procedure(kind: str) -> Procedure:
    """The procedure of a case kind; KeyError when unknown."""
    return PROCEDURES[kind]
