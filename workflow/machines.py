"""One `transitions` machine per procedure, built once from `states/`, fired on rows."""

from __future__ import annotations

import logging
from functools import cache

from transitions import Machine, MachineError

from states.guards import GUARDS, ROUTING, Firing
from states.registry import PROCEDURES, procedure
from workflow.errors import TransitionNotAllowed

logger = logging.getLogger(__name__)


def _condition(name: str):
    guard = GUARDS[name]

    def check(event_data) -> bool:
        return guard(event_data.model) is None

    check.__name__ = name
    return check


def _plain(value):
    # StrEnum members would be taken by `transitions` as Enum states (by .name).
    if value is None:
        return None
    if isinstance(value, str):
        return str(value.value) if hasattr(value, "value") else value
    return [_plain(v) for v in value]


@cache
def machine(kind: str) -> Machine:
    """The shared machine of a procedure (model=None: rows are passed to each event)."""
    proc = procedure(kind)
    missing = proc.guard_names() - GUARDS.keys()
    if missing:
        raise RuntimeError(f"{kind}: guards without a definition: {sorted(missing)}")
    transitions = []
    for t in proc.transitions:
        spec = {"trigger": t["trigger"], "source": _plain(t["source"]), "dest": _plain(t["dest"])}
        spec["conditions"] = [_condition(c) for c in t.get("conditions", [])]
        transitions.append(spec)
    return Machine(
        model=None,
        states=proc.state_codes(),
        transitions=transitions,
        initial=str(proc.initial),
        auto_transitions=False,
        send_event=True,
        name=kind,
    )


def build_all() -> None:
    """Build every machine up front (a definition error shows at start-up)."""
    for kind in PROCEDURES:
        machine(kind)


def explain(kind: str, trigger: str, firing: Firing) -> str:
    """Why a trigger was refused: the failed guards that are rules, not routing."""
    proc = procedure(kind)
    reasons: list[str] = []
    for conditions in proc.guards_for(trigger, firing.state):
        for name in conditions:
            reason = GUARDS[name](firing)
            if reason and name not in ROUTING and reason not in reasons:
                reasons.append(reason)
                break
    return ";".join(reasons) or "当前条件下不能进行此操作"


def fire(kind: str, trigger: str, firing: Firing) -> str:
    """Fire a trigger on one case; the new state, or TransitionNotAllowed with the reason."""
    proc = procedure(kind)
    m = machine(kind)
    event = m.events.get(trigger)
    spec = proc.triggers.get(trigger)
    if event is None or spec is None:
        raise TransitionNotAllowed(f"未知操作 {trigger} (unknown trigger)", trigger=trigger)
    before = firing.state
    try:
        done = event.trigger(firing)
    except MachineError:
        raise TransitionNotAllowed(
            f"「{spec.label}」不能在「{proc.labels.get(before, before)}」状态下进行 "
            f"({trigger} is not allowed in state {before})",
            trigger=trigger,
            state=before,
        ) from None
    if not done:
        raise TransitionNotAllowed(explain(kind, trigger, firing), trigger=trigger, state=before)
    return firing.state


def fire_batch(kind: str, trigger: str, firings: list[Firing]) -> list[TransitionNotAllowed | None]:
    """Fire a trigger on many cases; per firing, None on success or the refusal.

    The machine's choice depends only on the state and on which guards pass
    (guards are pure functions of the firing and there are no callbacks), so
    the machine is fired once per distinct (state, guard outcomes) and its
    verdict applied to every case of that class: a batch of ten thousand cases
    costs ten thousand guard checks, not ten thousand trips through `transitions`.
    Refusals are always fired and explained one by one.
    """
    proc = procedure(kind)
    checks: dict[str, tuple] = {}  # per source state: its guards, each once, in order
    verdicts: dict[tuple, str] = {}
    results: list[TransitionNotAllowed | None] = []
    for firing in firings:
        state = firing.state
        guards = checks.get(state)
        if guards is None:
            names = dict.fromkeys(
                n for conditions in proc.guards_for(trigger, state) for n in conditions
            )
            guards = checks[state] = tuple(GUARDS[n] for n in names)
        key = (state, tuple([guard(firing) is None for guard in guards]))
        verdict = verdicts.get(key)
        if verdict is not None:
            firing.state = verdict
            results.append(None)
            continue
        try:
            verdicts[key] = fire(kind, trigger, firing)
            results.append(None)
        except TransitionNotAllowed as err:
            results.append(err)
    return results
