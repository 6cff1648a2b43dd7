"""Every procedure exitflow runs, by kind; a new procedure is one more entry here."""

from __future__ import annotations

from states import household_exit
from states.procedure import Procedure

PROCEDURES: dict[str, Procedure] = {p.kind: p for p in (household_exit.PROCEDURE,)}


def procedure(kind: str) -> Procedure:
    """The procedure of a case kind; KeyError when unknown."""
    return PROCEDURES[kind]
