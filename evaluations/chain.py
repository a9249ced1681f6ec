"""Where a form stands in the review chain 填报 → 主管部门初审 → 区财政审核, as the
table page shows it: the step bar of both phases, who holds the form now (level,
unit, people and their e-mail), and each level's last opinion with who and when.
Two queries at most, whatever the form: the 主管部门's reviewers and the holders
(`people_of_chain`)."""

from dataclasses import dataclass

from .models import Evaluation, ReviewEvent, ReviewLevel
from .workflow import holders, parent_reviewers

Phase, Status, Level, Action = (
    Evaluation.Phase,
    Evaluation.Status,
    ReviewLevel,
    ReviewEvent.Action,
)


@dataclass(frozen=True)
class Step:
    phase: str  # 年初目标 / 年末自评
    level: str  # 单位填报 / 主管部门初审 / 区财政审核
    state: str  # done, current, waiting
    note: str = ""  # 已退回, 被区财政退回 …

    @property
    def state_label(self) -> str:
        return {"done": "已完成", "current": "当前", "waiting": "未开始"}[self.state]


@dataclass(frozen=True)
class Person:
    name: str
    email: str


@dataclass(frozen=True)
class Holder:
    level: str
    unit: str
    people: list[Person]
    task: str  # what they are asked to do


@dataclass(frozen=True)
class Opinion:
    phase: str
    level: str
    action: str
    actor: str
    at: object
    reason: str
    to: str


@dataclass(frozen=True)
class Chain:
    steps: list[Step]
    holder: Holder | None
    opinions: list[Opinion]
    first_level: bool


def level_unit_name(evaluation: Evaluation, level: str) -> str:
    unit = evaluation.unit
    if level == Level.PARENT and unit.parent is not None:
        return unit.parent.name
    if level == Level.DISTRICT:
        return f"{unit.district.name}财政局"
    return unit.name


@dataclass(frozen=True)
class ChainPeople:
    """Who the chain names beside the review events: the 主管部门's reviewers (when
    the form passes a first level) and who holds the form now (None when final)."""

    first: list[Person]
    holders: list[Person] | None


def people_of_chain(evaluation: Evaluation) -> ChainPeople:
    """Two queries at most. They change without the form changing (a reviewer added
    to a district, an e-mail corrected), so the table page reads them every time."""
    unit = evaluation.unit
    first = []
    if unit.parent_id is not None and unit.district.parent_review:
        first = [person_of(user) for user in parent_reviewers(unit.parent_id)]
    held_by = evaluation.held_by
    holding = None
    if held_by:
        if held_by == Level.PARENT:
            holding = first
        else:
            holding = [person_of(user) for user in holders(evaluation, held_by).order_by("pk")]
    return ChainPeople(first, holding)


def chain_of(evaluation: Evaluation, events: list[ReviewEvent], people: ChainPeople) -> Chain:
    """The chain of `evaluation` (fetched with its unit, parent and district), from
    its review events (`events`, oldest first, actors selected) and `people`."""
    held_by = evaluation.held_by
    # A form the district sent back to its 主管部门 stays with it, reviewers or not.
    first_level = bool(people.first) or held_by == Level.PARENT
    levels = [Level.UNIT, *([Level.PARENT] if first_level else []), Level.DISTRICT]

    steps = []
    for phase in Phase:
        for level in levels:
            steps.append(Step(phase.label, level.label, _state(evaluation, phase, level, levels)))
    holder = None
    if held_by:
        holder = Holder(
            level=Level(held_by).label,
            unit=level_unit_name(evaluation, held_by),
            people=people.holders,
            task=_task(evaluation, held_by, events),
        )
    return Chain(steps, holder, opinions(evaluation, events), first_level)


def person_of(user) -> Person:
    return Person(user.first_name or user.username, user.email)


def _state(evaluation: Evaluation, phase: str, level: str, levels: list[str]) -> str:
    if evaluation.is_final:
        return "done"
    if phase != evaluation.phase:
        return "done" if phase == Phase.TARGETS else "waiting"
    here, there = levels.index(evaluation.held_by), levels.index(level)
    if there < here:
        return "done"
    return "current" if there == here else "waiting"


def _task(evaluation: Evaluation, level: str, events: list[ReviewEvent]) -> str:
    phase = evaluation.get_phase_display()
    last = events[-1] if events else None
    returned = last is not None and last.action == Action.RETURN
    if level == Level.UNIT:
        if evaluation.status == Status.RETURNED and returned:
            return f"按{last.get_level_display()}的退回理由修改{phase}后重新提交"
        return f"填写并提交{phase}"
    if level == Level.PARENT:
        if returned and last.level == Level.DISTRICT:
            return f"区财政已退回，重新初审{phase}（通过或退回填报单位）"
        return f"初审{phase}：通过后送区财政审核，或退回填报单位"
    return f"审核{phase}：审核通过，或退回填报单位 / 主管部门"


def opinions(evaluation: Evaluation, events: list[ReviewEvent]) -> list[Opinion]:
    """The last decision of each level in each phase (approve or return, with its
    opinion), in the chain's order."""
    last = {}
    for event in events:
        if event.action in (Action.APPROVE, Action.RETURN) and event.level:
            last[(event.phase, event.level)] = event
    result = []
    for phase in Phase:
        for level in (Level.PARENT, Level.DISTRICT):
            event = last.get((phase, level))
            if event is None:
                continue
            result.append(
                Opinion(
                    phase=phase.label,
                    level=Level(level).label,
                    action=_decision(event),
                    actor=event.actor.first_name or event.actor.username,
                    at=event.created_at,
                    reason=event.reason,
                    to=event.get_to_level_display() if event.to_level else "定稿",
                )
            )
    return result


def _decision(event: ReviewEvent) -> str:
    if event.action == Action.RETURN:
        return "退回主管部门" if event.to_level == Level.PARENT else "退回填报单位"
    return "通过"
