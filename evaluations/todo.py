"""待办 / 已办: what waits for a user, and what they have handled.

- 填报人: their units' forms to fill (草稿) and returned ones (已退回, with the reason);
- 主管部门审核人: the forms of the units under their 主管部门 held at 主管部门初审;
- 审核人: the forms of their districts held at 区财政审核;
- 管理员 hold no step of the chain: nothing waits for them.

已办 is every visible form the user took a step on that does not wait for them now.
A fixed number of queries whatever the number of forms: the lists are one query
each (the last step's reason and actor are subqueries), the returns' row notes one.
"""

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

from .kinds import FormKind
from .models import Evaluation, ReviewComment, ReviewEvent, ReviewLevel, Unit
from .roles import ROLE_PARENT_REVIEWER, ROLE_REVIEWER, ROLE_STAFF, scope_of

Status, Level = Evaluation.Status, ReviewLevel


def waiting_for(user) -> Q | None:
    """The forms that wait for `user`, as a filter; None when nothing can.

    By the ids of the user's scope (read once per request), not by joins through the
    membership tables: no form appears twice, so a count needs no subquery."""
    scope = scope_of(user)
    condition = Q()
    found = False
    if ROLE_STAFF in scope.roles:
        condition |= Q(unit_id__in=scope.unit_ids, status__in=Evaluation.EDITABLE_STATUSES)
        found = True
    if ROLE_PARENT_REVIEWER in scope.roles:
        condition |= Q(
            unit__parent_id__in=scope.unit_ids, status=Status.SUBMITTED, review_level=Level.PARENT
        )
        found = True
    if ROLE_REVIEWER in scope.roles:
        condition |= Q(
            unit__district_id__in=scope.district_ids,
            status=Status.SUBMITTED,
            review_level=Level.DISTRICT,
        )
        found = True
    return condition if found else None


def pending(user) -> QuerySet[Evaluation]:
    condition = waiting_for(user)
    if condition is None:
        return Evaluation.objects.none()
    return Evaluation.objects.filter(condition)


def pending_count(user) -> int:
    """The number on the home page and in the top bar: one query (none for no role)."""
    return pending(user).count()


def handled(user) -> QuerySet[Evaluation]:
    mine = ReviewEvent.objects.filter(evaluation=OuterRef("pk"), actor=user)
    waiting = pending(user).values("pk")
    return (
        Evaluation.objects.for_user(user)
        .filter(Exists(mine))
        .exclude(pk__in=waiting)
        .annotate(my_last_at=Subquery(mine.order_by("-created_at", "-id").values("created_at")[:1]))
    )


def with_last_step(evaluations: QuerySet[Evaluation]) -> QuerySet[Evaluation]:
    """Annotated with the last step taken (action, level, reason, who, when)."""
    last = ReviewEvent.objects.filter(evaluation=OuterRef("pk")).order_by("-created_at", "-id")
    return (
        evaluations.select_related("unit", "unit__parent", "unit__district", "project")
        .with_scores()
        .annotate(
            last_event_id=Subquery(last.values("pk")[:1]),
            last_action=Subquery(last.values("action")[:1]),
            last_level=Subquery(last.values("level")[:1]),
            last_reason=Subquery(last.values("reason")[:1]),
            last_at=Subquery(last.values("created_at")[:1]),
            last_actor_first_name=Subquery(last.values("actor__first_name")[:1]),
            last_actor_username=Subquery(last.values("actor__username")[:1]),
        )
    )


FILTERS = {
    "kind": FormKind.choices,
    "phase": Evaluation.Phase.choices,
    "status": Evaluation.Status.choices,
}


def read_filters(query) -> dict:
    """The to-do page's filters from the query string; unknown values are ignored."""
    chosen = {}
    for name, choices in FILTERS.items():
        value = query.get(name, "")
        chosen[name] = value if value in dict(choices) else ""
    parent = query.get("parent", "")
    chosen["parent"] = (
        int(parent) if parent.isascii() and parent.isdigit() and len(parent) < 10 else None
    )
    return chosen


def filtered(evaluations: QuerySet[Evaluation], filters: dict) -> QuerySet[Evaluation]:
    for name in FILTERS:
        if filters[name]:
            evaluations = evaluations.filter(**{name: filters[name]})
    if filters["parent"]:
        evaluations = evaluations.filter(unit__parent_id=filters["parent"])
    return evaluations


def parent_choices(user) -> QuerySet[Unit]:
    """The 主管部门 over the forms the user sees."""
    return Unit.objects.filter(
        pk__in=Evaluation.objects.for_user(user).values("unit__parent")
    ).order_by("code")


def attach_return_notes(evaluations: list[Evaluation]) -> None:
    """Each returned form's row notes of its last return (`return_notes`): one query."""
    returned = {
        evaluation.last_event_id: evaluation
        for evaluation in evaluations
        if evaluation.last_action == ReviewEvent.Action.RETURN
    }
    for evaluation in evaluations:
        evaluation.return_notes = []
    if not returned:
        return
    for comment in (
        ReviewComment.objects.filter(event_id__in=returned)
        .select_related("budget_line")
        .order_by("id")
    ):
        returned[comment.event_id].return_notes.append(comment)


def counts(user) -> dict[str, int]:
    """The home page's figures: waiting for the user, of which returned. One query."""
    if waiting_for(user) is None:
        return {"pending": 0, "returned": 0}
    return pending(user).aggregate(
        pending=Count("pk"), returned=Count("pk", filter=Q(status=Status.RETURNED))
    )


class PendingCount:
    """The top bar's count, read when the page draws it and then kept."""

    def __init__(self, user):
        self.user = user

    def __call__(self) -> int:
        if not hasattr(self, "value"):
            self.value = pending_count(self.user) if self.user.is_authenticated else 0
        return self.value


def context(request) -> dict:
    """Template context processor: `todo_count` for the top bar (no query unless drawn)."""
    return {"todo_count": PendingCount(request.user)}
