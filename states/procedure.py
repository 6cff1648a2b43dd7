"""The shape every procedure definition in `states/` shares: states, triggers, transitions as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# How a trigger may be fired: most through the transitions endpoint by a person;
# some only by the service that owns the step (posting a window, the sweep, the
# public objection form, the evaluation), never directly.
VIA_TRANSITION = "transition"
VIA_PUBLICITY = "publicity"
VIA_SWEEP = "sweep"
VIA_OBJECTION = "objection"
VIA_EVALUATION = "evaluation"


@dataclass(frozen=True)
class Trigger:
    """A trigger: who may fire it, how, and what its data must hold."""

    code: str
    label: str
    roles: frozenset[str]
    via: str = VIA_TRANSITION
    signoff: bool = False  # one sign-off row per call and per person (verify)
    batch: bool = False  # allowed in POST /cases/batch-transitions


@dataclass(frozen=True)
class Procedure:
    """A procedure as data: states with Chinese labels, triggers, and transitions."""

    kind: str
    label: str
    states: type[StrEnum]
    labels: dict[str, str]
    initial: str
    triggers: dict[str, Trigger]
    transitions: list[dict]
    publicity_states: dict[str, str] = field(default_factory=dict)  # state -> window stage
    terminal: frozenset[str] = frozenset()
    # States that wait for people, and the rule set's deadline (step) that applies.
    deadlines: dict[str, str] = field(default_factory=dict)
    # Posting a window from a state: (issuer role, window stage, scope level).
    publicize: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    subject_level: str = "household"  # a household, or the level of the region subject
    openers: frozenset[str] = frozenset()  # roles that open cases of this kind

    def state_codes(self) -> list[str]:
        """All state codes in declaration order."""
        return [s.value for s in self.states]

    def sources(self, trigger: str) -> set[str]:
        """The states a trigger can fire from."""
        found: set[str] = set()
        for t in self.transitions:
            if t["trigger"] == trigger:
                src = t["source"]
                found.update([src] if isinstance(src, str) else src)
        return found

    def roles_for(self, trigger: str) -> frozenset[str]:
        """The roles allowed to fire a trigger; empty (deny) when undeclared."""
        spec = self.triggers.get(trigger)
        return spec.roles if spec else frozenset()

    def guards_for(self, trigger: str, state: str) -> list[list[str]]:
        """The guard names of each candidate transition of a trigger from a state, in order."""
        out = []
        for t in self.transitions:
            src = t["source"]
            if t["trigger"] == trigger and (
                src == state or (not isinstance(src, str) and state in src)
            ):
                out.append(list(t.get("conditions", [])))
        return out

    def guard_names(self) -> set[str]:
        """Every guard name the transitions use."""
        return {c for t in self.transitions for c in t.get("conditions", [])}


def publicity_transitions(publicity: str, review: str, after: str, upheld: str) -> list[dict]:
    """Posting, closing and objecting to one publicity window, as transitions (data).

    `publicity` is the state while the window is open, `review` the state of a case under
    objection, `after` where the window's close (or a late dismissal) leads, `upheld`
    where an upheld objection sends the case back.
    """
    return [
        {
            "trigger": "close_window",
            "source": publicity,
            "dest": after,
            "conditions": ["window_closed"],
        },
        {
            "trigger": "object",
            "source": [publicity, review],
            "dest": review,
            "conditions": ["window_open"],
        },
        {
            "trigger": "dismiss_objection",
            "source": review,
            "dest": None,
            "conditions": ["objection_open", "other_objections_open"],
        },
        {
            "trigger": "dismiss_objection",
            "source": review,
            "dest": publicity,
            "conditions": ["objection_open", "window_open"],
        },
        {
            "trigger": "dismiss_objection",
            "source": review,
            "dest": after,
            "conditions": ["objection_open", "window_closed"],
        },
        {
            "trigger": "uphold_objection",
            "source": review,
            "dest": upheld,
            "conditions": ["objection_open"],
        },
    ]
