"""What the table page shows of the past: the review events, the reviewer's notes
of the last return, and every field changed since then (from the field history).
A fixed number of queries whatever the number of rows."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils.html import strip_tags
from django.utils.text import Truncator

from indicators.models import Indicator, IndicatorCategory, IndicatorGroup

from .models import BudgetLine, Evaluation, ReviewComment, ReviewEvent, anchor_of

NOTHING = "（空）"


@dataclass(frozen=True)
class Change:
    row: str
    field: str
    old: str
    new: str
    actor: str
    changed_at: datetime
    # The row's anchor on the table page ("indicator-12", "budget-fiscal"), or "".
    anchor: str = ""
    # Who `actor` names (None: 系统), so a page drawn with the name can tell a rename.
    actor_id: int | None = None


@dataclass
class ReviewHistory:
    events: list[ReviewEvent]
    # The last return (or reopen): what the unit was asked to fix, and since when changes count.
    last_return: ReviewEvent | None
    comments: list[ReviewComment]
    changes: list[Change]

    @property
    def targets_approval(self) -> ReviewEvent | None:
        """Who approved the targets, and when (the last time, after a reopen)."""
        return self._last_approval(Evaluation.Phase.TARGETS)

    @property
    def final_approval(self) -> ReviewEvent | None:
        """Who approved the results, making the form final, and when."""
        return self._last_approval(Evaluation.Phase.RESULTS)

    def _last_approval(self, phase: str) -> ReviewEvent | None:
        approvals = [
            event
            for event in self.events
            if event.action == ReviewEvent.Action.APPROVE and event.phase == phase
        ]
        return approvals[-1] if approvals else None


def review_history(evaluation: Evaluation) -> ReviewHistory:
    events = list(evaluation.review_events.select_related("actor"))
    last_return, comments = _last_return(events)
    if last_return is None:
        return ReviewHistory(events, None, [], [])
    return ReviewHistory(
        events, last_return, comments, changes_since(evaluation, last_return.created_at)
    )


def last_return(evaluation: Evaluation) -> tuple[ReviewEvent | None, list[ReviewComment]]:
    """The last return (or reopen) and its row comments: what the unit is asked to fix."""
    return _last_return(list(evaluation.review_events.select_related("actor")))


def _last_return(events: list[ReviewEvent]) -> tuple[ReviewEvent | None, list[ReviewComment]]:
    returns = [
        event
        for event in events
        if event.action in (ReviewEvent.Action.RETURN, ReviewEvent.Action.REOPEN)
    ]
    if not returns:
        return None, []
    event = returns[-1]
    comments = list(
        event.comments.select_related("budget_line").order_by("id")
        if event.action == ReviewEvent.Action.RETURN
        else []
    )
    return event, comments


def person(user) -> str:
    if user is None:
        return "系统"
    return user.first_name or user.username


def changes_since(evaluation: Evaluation, moment: datetime) -> list[Change]:
    """Each data field of the evaluation and its rows whose value now differs from
    its value at `moment`; rows added or deleted since then are listed as such."""
    layout = evaluation.layout
    groups = IndicatorGroup.history.filter(evaluation_id=evaluation.pk)
    categories = IndicatorCategory.history.filter(group_id__in=groups.values("id"))
    indicators = Indicator.history.filter(category_id__in=categories.values("id"))
    category_records = _records(categories)
    category_names = {
        object_id: records[-1].name for object_id, records in category_records.items()
    }

    def indicator_label(record) -> str:
        return f"三级指标“{record.name or category_names.get(record.category_id, '')}”"

    sources = [
        (
            "evaluation",
            _records(Evaluation.history.filter(id=evaluation.pk)),
            lambda record: "自评表",
            lambda record: "",
        ),
        (
            "budgetline",
            _records(BudgetLine.history.filter(evaluation_id=evaluation.pk)),
            lambda record: f"{layout.budget_fault_label}·{record.get_kind_display()}",
            lambda record: anchor_of(BudgetLine.anchor_prefix, record.kind),
        ),
        (
            "indicatorgroup",
            _records(groups),
            lambda record: f"一级指标“{record.name}”",
            lambda record: anchor_of(IndicatorGroup.anchor_prefix, record.id),
        ),
        (
            "indicatorcategory",
            category_records,
            lambda record: f"二级指标“{record.name}”",
            lambda record: "",
        ),
        (
            "indicator",
            _records(indicators),
            indicator_label,
            lambda record: anchor_of(Indicator.anchor_prefix, record.id),
        ),
    ]
    changes = []
    for model_name, records_by_object, label, anchor in sources:
        fields = [
            *layout.phase_fields[Evaluation.Phase.TARGETS].get(model_name, ()),
            *layout.phase_fields[Evaluation.Phase.RESULTS].get(model_name, ()),
            *Evaluation.RECHECK_FIELDS.get(model_name, ()),
        ]
        for records in records_by_object.values():
            changes.extend(_object_changes(records, moment, fields, label, anchor(records[-1])))
    changes.sort(key=lambda change: change.changed_at)
    return changes


def _records(history) -> dict[int, list]:
    by_object = defaultdict(list)
    for record in history.select_related("history_user").order_by("history_date", "history_id"):
        by_object[record.id].append(record)
    return by_object


def _object_changes(
    records: list, moment: datetime, fields: list[str], label, anchor: str
) -> list[Change]:
    before = [record for record in records if record.history_date <= moment]
    after = [record for record in records if record.history_date > moment]
    if not after:
        return []
    baseline = before[-1] if before and before[-1].history_type != "-" else None
    latest = after[-1]
    actor, at = person(latest.history_user), latest.history_date
    actor_id = latest.history_user_id
    if latest.history_type == "-":
        if baseline is None:
            return []
        return [Change(label(baseline), "整行", "", "已删除", actor, at, actor_id=actor_id)]
    if baseline is None:
        return [Change(label(latest), "整行", "", "新增", actor, at, anchor, actor_id)]
    changes = []
    for name in fields:
        old, new = getattr(baseline, name), getattr(latest, name)
        if old != new:
            verbose = latest._meta.get_field(name).verbose_name
            changes.append(
                Change(
                    label(latest), verbose, _shown(old), _shown(new), actor, at, anchor, actor_id
                )
            )
    return changes


def _shown(value) -> str:
    if value is None or value == "":
        return NOTHING
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return Truncator(strip_tags(str(value))).chars(80)
