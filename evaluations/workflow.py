"""The review of an evaluation, as verbs: submit, approve_first and return_first
(主管部门初审), return_for_revision and approve (区财政审核), reopen, and recheck
(再复核); and `changing`, the one way to write an evaluation's content with a
version check.

Each phase goes through the chain 填报 → 主管部门初审 → 区财政审核. The first level
is taken when the unit has a 主管部门, its district uses the first level
(`District.parent_review`) and the 主管部门 has a 主管部门审核人 (`first_level_of`, read
at submission); otherwise the form goes straight to the district. While submitted,
`Evaluation.review_level` says which level holds it.

Each verb locks the evaluation's row, checks role and state, saves only the
fields it changes, writes a `ReviewEvent`, and sends its email once the
transaction has committed. A refusal raises `WorkflowError` with a message for
people and changes nothing.

| phase · status      | verb                | becomes                            | who              |
|---------------------|---------------------|------------------------------------|------------------|
| 年初目标 · 草稿/已退回 | submit              | 年初目标 · 已提交 (主管部门 or district) | 填报人 of the unit |
| 已提交 · 主管部门初审  | approve_first       | 已提交 · 区财政审核                  | 主管部门审核人      |
| 已提交 · 主管部门初审  | return_first        | 已退回                              | 主管部门审核人      |
| 已提交 · 区财政审核    | return_for_revision | 已退回, or to=PARENT: 主管部门初审     | 审核人 of district |
| 年初目标 · 已提交     | return_for_revision | 年初目标 · 已退回                    | 审核人 of district |
| 年初目标 · 已提交     | approve             | 年末自评 · 草稿 (targets read-only)  | 审核人 of district |
| 年末自评 · 草稿/已退回 | submit              | 年末自评 · 已提交                    | 填报人 of the unit |
| 年末自评 · 已提交     | return_for_revision | 年末自评 · 已退回                    | 审核人 of district |
| 年末自评 · 已提交     | recheck             | (unchanged; reviewer's own score)  | 审核人 of district |
| 年末自评 · 已提交     | approve             | 年末自评 · 已审核 (final)            | 审核人 of district |
| 年末自评 · 已审核     | reopen              | 年末自评 · 已退回                    | 管理员             |
| 年末自评 · 草稿/已退回 | reopen              | 年初目标 · 已退回                    | 管理员             |
"""

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from simple_history.models import HistoricalRecords

from indicators.models import Indicator

from . import access, evidence, windows
from .consistency import Fault
from .models import (
    BudgetLine,
    Evaluation,
    EvaluationError,
    ReviewComment,
    ReviewEvent,
    ReviewLevel,
    StaleVersion,
    Unit,
    parse_anchor,
)
from .roles import ROLE_PARENT_REVIEWER
from .table import build_table
from .text import NOTE_MAX_LENGTH, REASON_MAX_LENGTH, TextError, check_text, parse_two_places

logger = logging.getLogger(__name__)
Phase, Status, Action = Evaluation.Phase, Evaluation.Status, ReviewEvent.Action
Level = ReviewLevel


class WorkflowError(EvaluationError):
    def __init__(self, message: str, faults: list[Fault] | None = None):
        super().__init__(message)
        self.faults = faults or []


# The guards: each says why `user` may not take a step on `evaluation` now, or "".
# The verbs raise what they say; pages ask them which buttons to show.


def submit_refusal(user, evaluation: Evaluation) -> str:
    if not access.can_fill(user, evaluation):
        return "只有本单位的填报人可以提交自评表。"
    if evaluation.status not in Evaluation.EDITABLE_STATUSES:
        return f"该自评表处于“{evaluation.state_display}”，不能提交。"
    # After the window's due date and grace period, only an extension lets it in.
    return windows.submission_refusal(evaluation)


def review_refusal(user, evaluation: Evaluation) -> str:
    """Return and approve at the district."""
    if not access.can_review(user, evaluation):
        return "只有本区的审核人可以审核自评表。"
    if evaluation.status != Status.SUBMITTED:
        return f"该自评表处于“{evaluation.state_display}”，尚未提交，不能审核。"
    if evaluation.review_level != Level.DISTRICT:
        return "该自评表正在主管部门初审，尚未送区财政审核，不能审核。"
    return ""


def first_review_refusal(user, evaluation: Evaluation) -> str:
    """Pass on and return at the 主管部门 (初审)."""
    if not access.can_review_first(user, evaluation):
        return "只有该单位主管部门的主管部门审核人可以初审。"
    if evaluation.status != Status.SUBMITTED:
        return f"该自评表处于“{evaluation.state_display}”，尚未提交，不能初审。"
    if evaluation.review_level != Level.PARENT:
        return "该自评表已送区财政审核，不在主管部门初审环节，不能初审。"
    return ""


def return_to_parent_refusal(user, evaluation: Evaluation) -> str:
    """The district's return to the 主管部门 rather than to the unit."""
    if refusal := review_refusal(user, evaluation):
        return refusal
    if first_level_of(evaluation) is None:
        return "该单位没有主管部门初审（无主管部门、本区不设初审或主管部门无审核人），只能退回填报单位。"
    return ""


def parent_reviewers(parent: Unit | int | None):
    """The active 主管部门审核人 of the 主管部门 `parent`."""
    return get_user_model().objects.filter(
        is_active=True, units=parent, groups__name=ROLE_PARENT_REVIEWER
    )


def first_level_of(evaluation: Evaluation) -> Unit | None:
    """The 主管部门 that checks the form before the district, or None: the unit has one,
    its district uses the first level, and someone holds it there. A 主管部门 without a
    主管部门审核人 sends its units' forms straight on: nobody else could pass them."""
    unit = evaluation.unit
    if unit.parent_id is None or not unit.district.parent_review:
        return None
    if not parent_reviewers(unit.parent_id).exists():
        return None
    return unit.parent


def recheck_refusal(user, evaluation: Evaluation) -> str:
    if refusal := review_refusal(user, evaluation):
        return refusal
    if evaluation.phase != Phase.RESULTS:
        return "再复核只在年末自评阶段进行。"
    return ""


def reopen_refusal(user, evaluation: Evaluation) -> str:
    if not access.can_reopen(user, evaluation):
        return "只有管理员可以重新打开已审核的自评表。"
    if evaluation.is_final or (
        evaluation.phase == Phase.RESULTS and evaluation.status in Evaluation.EDITABLE_STATUSES
    ):
        return ""
    if evaluation.status == Status.SUBMITTED:
        return "该自评表正在审核中，请审核人先退回或审核通过。"
    return "该自评表尚无已审核的阶段，无需重新打开。"


def _guard(refusal: str) -> None:
    if refusal:
        raise WorkflowError(refusal)


def submit(evaluation: Evaluation, *, by) -> ReviewEvent:
    with transaction.atomic():
        locked = _lock(evaluation)
        _guard(submit_refusal(by, locked))
        table = build_table(Evaluation.objects.with_table().get(pk=locked.pk))
        faults = table.faults
        if faults:
            raise WorkflowError(
                f"一致性检查发现 {len(faults)} 处问题，未提交。请修改后再提交。", faults
            )
        if missing := evidence.missing_evidence(locked, table):
            raise WorkflowError(
                f"有 {len(missing)} 行须上传佐证材料而尚未上传，未提交。请在各行上传后再提交。",
                missing,
            )
        to_level = Level.PARENT if first_level_of(locked) else Level.DISTRICT
        return _move(
            evaluation,
            locked,
            by,
            Action.SUBMIT,
            locked.phase,
            Status.SUBMITTED,
            level=Level.UNIT,
            to_level=to_level,
            review_level=to_level,
        )


def return_for_revision(
    evaluation: Evaluation,
    *,
    by,
    reason: str,
    comments: Mapping[str, str] | None = None,
    expected_version: int | None = None,
    to: str = Level.UNIT,
) -> ReviewEvent:
    """The district's return: to the unit, or with `to=Level.PARENT` to the 主管部门 for
    another first check. `comments` pins a note on rows, keyed by their anchor:
    "indicator-12", "budget-fiscal"."""
    if to not in (Level.UNIT, Level.PARENT):
        raise WorkflowError("请选择退回给填报单位或主管部门。")
    refusal = return_to_parent_refusal if to == Level.PARENT else review_refusal
    return _return(evaluation, by, reason, comments, expected_version, refusal, Level.DISTRICT, to)


def return_first(
    evaluation: Evaluation,
    *,
    by,
    reason: str,
    comments: Mapping[str, str] | None = None,
    expected_version: int | None = None,
) -> ReviewEvent:
    """主管部门初审 returns the phase to the unit."""
    return _return(
        evaluation,
        by,
        reason,
        comments,
        expected_version,
        first_review_refusal,
        Level.PARENT,
        Level.UNIT,
    )


def approve_first(
    evaluation: Evaluation, *, by, opinion: str = "", expected_version: int | None = None
) -> ReviewEvent:
    """主管部门初审 passes the phase on to the district."""
    opinion = (opinion or "").strip()
    _check_text(opinion, "初审意见", REASON_MAX_LENGTH)
    with transaction.atomic():
        locked = _lock(evaluation, expected_version)
        _guard(first_review_refusal(by, locked))
        return _move(
            evaluation,
            locked,
            by,
            Action.APPROVE,
            locked.phase,
            Status.SUBMITTED,
            opinion,
            level=Level.PARENT,
            to_level=Level.DISTRICT,
            review_level=Level.DISTRICT,
        )


def _return(
    evaluation: Evaluation,
    by,
    reason: str,
    comments: Mapping[str, str] | None,
    expected_version: int | None,
    refusal,
    level: str,
    to_level: str,
) -> ReviewEvent:
    reason = (reason or "").strip()
    comments = {anchor: text.strip() for anchor, text in (comments or {}).items() if text.strip()}
    with transaction.atomic():
        locked = _lock(evaluation, expected_version)
        _guard(refusal(by, locked))
        if not reason:
            raise WorkflowError("请填写退回理由。")
        _check_text(reason, "退回理由", REASON_MAX_LENGTH)
        rows = _rows_by_anchor(locked, comments)
        for anchor, row in rows.items():
            _check_text(
                comments[anchor], f"对“{_row_label(row, locked.layout)}”的意见", NOTE_MAX_LENGTH
            )
        # Back to the 主管部门 the phase stays submitted, held by the first level again.
        status = Status.SUBMITTED if to_level == Level.PARENT else Status.RETURNED
        event = _move(
            evaluation,
            locked,
            by,
            Action.RETURN,
            locked.phase,
            status,
            reason,
            level=level,
            to_level=to_level,
            review_level=Level.PARENT if to_level == Level.PARENT else None,
        )
        ReviewComment.objects.bulk_create(
            ReviewComment(
                event=event,
                indicator=row if isinstance(row, Indicator) else None,
                budget_line=row if isinstance(row, BudgetLine) else None,
                row_label=_row_label(row, locked.layout),
                text=comments[anchor],
            )
            for anchor, row in rows.items()
        )
        return event


def approve(
    evaluation: Evaluation, *, by, opinion: str = "", expected_version: int | None = None
) -> ReviewEvent:
    """The district's approval: of the targets (the results phase opens), or of the
    results (final)."""
    opinion = (opinion or "").strip()
    _check_text(opinion, "审核意见", REASON_MAX_LENGTH)
    with transaction.atomic():
        locked = _lock(evaluation, expected_version)
        _guard(review_refusal(by, locked))
        if locked.phase == Phase.TARGETS:
            # The targets are approved and, from now on, read-only: the results phase opens.
            return _move(
                evaluation,
                locked,
                by,
                Action.APPROVE,
                Phase.RESULTS,
                Status.DRAFT,
                opinion,
                level=Level.DISTRICT,
                to_level=Level.UNIT,
                event_status=Status.APPROVED,
            )
        return _move(
            evaluation,
            locked,
            by,
            Action.APPROVE,
            Phase.RESULTS,
            Status.APPROVED,
            opinion,
            level=Level.DISTRICT,
            to_level="",
        )


def reopen(
    evaluation: Evaluation, *, by, reason: str, expected_version: int | None = None
) -> ReviewEvent:
    """Opens the last approved phase again: approved results, or else the approved targets."""
    reason = (reason or "").strip()
    with transaction.atomic():
        locked = _lock(evaluation, expected_version)
        _guard(reopen_refusal(by, locked))
        if not reason:
            raise WorkflowError("请填写重新打开的理由。")
        _check_text(reason, "重新打开的理由", REASON_MAX_LENGTH)
        if locked.is_final:
            return _move(
                evaluation,
                locked,
                by,
                Action.REOPEN,
                Phase.RESULTS,
                Status.RETURNED,
                reason,
                level=Level.ADMIN,
                to_level=Level.UNIT,
            )
        return _move(
            evaluation,
            locked,
            by,
            Action.REOPEN,
            Phase.TARGETS,
            Status.RETURNED,
            reason,
            level=Level.ADMIN,
            to_level=Level.UNIT,
            event_phase=Phase.TARGETS,
            event_from=Status.APPROVED,
        )


def recheck(
    evaluation: Evaluation,
    indicator_id: int,
    *,
    by,
    review_score: str | Decimal | None,
    review_opinion: str,
    expected_version: int,
) -> ReviewEvent:
    """再复核: the reviewer's own score and opinion on one scored row of a submitted
    results phase, kept beside the unit's score."""
    score = _parse_score(review_score)
    opinion = (review_opinion or "").strip()
    _check_text(opinion, "复核意见", NOTE_MAX_LENGTH)
    with transaction.atomic():
        locked = _lock(evaluation)
        _guard(recheck_refusal(by, locked))
        indicator = (
            Indicator.objects.select_related("category")
            .filter(category__group__evaluation=locked, pk=indicator_id)
            .first()
        )
        if indicator is None:
            raise WorkflowError("找不到该指标。")
        if score is not None and score > indicator.points:
            raise WorkflowError(f"复核得分不能超过分值 {indicator.points}。")
        if score is None and not opinion:
            raise WorkflowError("请填写复核得分或复核意见。")

        with changing(evaluation, by=by, expected_version=expected_version):
            indicator.review_score = score
            indicator.review_opinion = opinion
            indicator.save(update_fields=["review_score", "review_opinion"])
        unit_score = "未填" if indicator.score is None else f"{indicator.score}"
        reviewed = "未给分" if score is None else f"{score}"
        return ReviewEvent.objects.create(
            evaluation=locked,
            action=Action.RECHECK,
            phase=locked.phase,
            from_status=locked.status,
            to_status=locked.status,
            level=Level.DISTRICT,
            to_level=Level.DISTRICT,
            actor=by,
            reason=f"“{indicator.label}”：复核得分 {reviewed}（单位自评 {unit_score}）"
            + (f"；意见：{opinion}" if opinion else ""),
        )


def recheck_rows(
    evaluation: Evaluation, typed: Mapping[int, tuple[str, str]], *, by, expected_version: int
) -> list[ReviewEvent]:
    """再复核 of many rows from one form, all or nothing: `typed` maps indicator ids to
    the (score, opinion) as typed; a row left as it was is skipped, each changed row
    is one `recheck` with its history row."""
    indicators = {
        indicator.pk: indicator
        for indicator in Indicator.objects.filter(
            category__group__evaluation=evaluation
        ).select_related("category")
    }
    events = []
    with transaction.atomic():
        for indicator_id, (score, opinion) in typed.items():
            indicator = indicators.get(indicator_id)
            if indicator is None:
                raise WorkflowError("找不到该指标。")
            try:
                stored = (indicator.review_score, indicator.review_opinion)
                if (_parse_score(score), (opinion or "").strip()) == stored:
                    continue
                events.append(
                    recheck(
                        evaluation,
                        indicator_id,
                        by=by,
                        review_score=score,
                        review_opinion=opinion,
                        # Each row's save raises the version by one (on `evaluation` too).
                        expected_version=expected_version if not events else evaluation.version,
                    )
                )
            except WorkflowError as error:
                raise WorkflowError(
                    f"“{indicator.label}”：{error.message}未保存任何一行。"
                ) from None
    if not events:
        raise WorkflowError("复核得分和意见没有改动。")
    return events


@contextmanager
def changing(evaluation: Evaluation, *, by, expected_version: int) -> Iterator[Evaluation]:
    """The one way to write content of `evaluation`: a block that runs only if nobody
    saved it since `expected_version` was read.

        with workflow.changing(evaluation, by=user, expected_version=version) as locked:
            indicator.save(update_fields=["score"])

    Inside, the evaluation's row is locked (`locked` is its fresh copy) and the field
    history names `by`; the phase rules of the models refuse what the current phase
    does not open. All or nothing: on any exception nothing of the block stays. On
    leaving the block the version goes up by one, also on the caller's `evaluation`
    for its next save. Which role may write is the caller's to check."""
    with transaction.atomic():
        locked = _lock(evaluation)
        if locked.version != int(expected_version):
            raise StaleVersion()
        with recorded_as(by):
            yield locked
        Evaluation.objects.filter(pk=locked.pk).update(version=F("version") + 1)
        locked.version += 1
        evaluation.version = locked.version


@contextmanager
def recorded_as(user) -> Iterator[None]:
    """Field history written inside names `user`, in a request or not (the history
    reads the user from the current request, which a command or a test lacks)."""
    context = HistoricalRecords.context
    previous = getattr(context, "request", None)
    context.request = SimpleNamespace(user=user)
    try:
        yield
    finally:
        if previous is None:
            del context.request
        else:
            context.request = previous


def _lock(evaluation: Evaluation, expected_version: int | None = None) -> Evaluation:
    """The evaluation, read afresh under a row lock. With `expected_version`, refused
    if anyone changed it since that version was read: a reviewer's old tab must not
    approve or return content they never saw."""
    locked = (
        Evaluation.objects.select_for_update(of=("self",))
        .select_related("unit", "unit__district")
        .get(pk=evaluation.pk)
    )
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion()
    return locked


def _move(
    evaluation: Evaluation,
    locked: Evaluation,
    by,
    action: str,
    phase: str,
    status: str,
    reason: str = "",
    *,
    level: str,
    to_level: str,
    review_level: str | None = None,
    event_phase: str | None = None,
    event_from: str | None = None,
    event_status: str | None = None,
) -> ReviewEvent:
    """Writes the step's event and the evaluation's new place: `level` is where the
    step was taken, `to_level` who holds the form after it ("" once final), and
    `review_level` the level that holds it when it stays (or becomes) submitted."""
    event = ReviewEvent.objects.create(
        evaluation=locked,
        action=action,
        phase=event_phase or locked.phase,
        from_status=event_from or locked.status,
        to_status=event_status or status,
        level=level,
        to_level=to_level,
        actor=by,
        reason=reason,
    )
    locked.phase, locked.status, locked.version = phase, status, locked.version + 1
    fields = ["phase", "status", "version", "updated_at"]
    if review_level is not None:
        locked.review_level = review_level
        fields.append("review_level")
    with recorded_as(by):
        locked.save(update_fields=fields, transition=True)
    evaluation.phase, evaluation.status, evaluation.version = phase, status, locked.version
    evaluation.review_level = locked.review_level
    transaction.on_commit(lambda: notify(event.pk), robust=True)
    return event


def _rows_by_anchor(locked: Evaluation, comments: Mapping[str, str]) -> dict:
    wanted_indicators, wanted_kinds = {}, {}
    for anchor in comments:
        prefix, key = parse_anchor(anchor)
        if prefix == Indicator.anchor_prefix and key.isdigit():
            wanted_indicators[int(key)] = anchor
        elif prefix == BudgetLine.anchor_prefix and key in BudgetLine.Kind.values:
            wanted_kinds[key] = anchor
        else:
            raise WorkflowError("逐行意见指向的行不存在，未退回。")
    rows = {}
    for indicator in Indicator.objects.select_related("category").filter(
        category__group__evaluation=locked, pk__in=wanted_indicators
    ):
        rows[wanted_indicators[indicator.pk]] = indicator
    for line in BudgetLine.objects.filter(evaluation=locked, kind__in=wanted_kinds):
        rows[wanted_kinds[line.kind]] = line
    if len(rows) != len(comments):
        raise WorkflowError("逐行意见指向的行不存在，未退回。")
    return rows


def _row_label(row: Indicator | BudgetLine, layout) -> str:
    if isinstance(row, BudgetLine):
        return f"{layout.budget_fault_label}·{row.get_kind_display()}"
    return row.label


def _check_text(text: str, label: str, max_length: int) -> None:
    """The text rules (`evaluations.text`), checked before anything is written;
    the models' save refuses the same text on any other path."""
    try:
        check_text(text, label, max_length=max_length, multiline=True)
    except TextError as error:
        raise WorkflowError(str(error)) from None


def _parse_score(value: str | Decimal | None) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        return parse_two_places(value, "复核得分", maximum=Decimal("100"), example="1.50")
    except ValueError as error:
        raise WorkflowError(str(error)) from None


NOTICE_SUBJECTS = {
    Action.SUBMIT: "已提交，请审核",
    Action.RETURN: "已被退回，请修改",
    Action.APPROVE: "已审核通过",
    Action.REOPEN: "已由管理员重新打开",
}
# The steps that hand the form to a level of the chain rather than back to the unit.
CHAIN_SUBJECTS = {
    (Action.SUBMIT, Level.UNIT, Level.PARENT): "已提交，请主管部门初审",
    (Action.APPROVE, Level.PARENT, Level.DISTRICT): "已通过主管部门初审，请区财政审核",
    (Action.RETURN, Level.DISTRICT, Level.PARENT): "已被区财政退回主管部门，请重新初审",
    (Action.RETURN, Level.PARENT, Level.UNIT): "已被主管部门退回，请修改",
}


def holders(evaluation: Evaluation, level: str):
    """The people who hold `level` of the chain for `evaluation` (a queryset of users):
    the unit's staff, the 主管部门's 主管部门审核人, or the district's reviewers."""
    users = get_user_model().objects.filter(is_active=True)
    if level == Level.UNIT:
        return users.filter(units=evaluation.unit_id)
    if level == Level.PARENT:
        return parent_reviewers(evaluation.unit.parent_id)
    if level == Level.DISTRICT:
        return users.filter(reviewed_districts=evaluation.unit.district_id)
    return users.none()


def notify(event_id: int) -> None:
    """The email of one step, to whoever holds the form after it: the 主管部门审核人 or
    the district's reviewers when it goes up the chain, the unit's staff when it comes
    back or is approved (and the reviewers too on reopen); never to the person who
    acted."""
    event = ReviewEvent.objects.select_related("evaluation__unit", "actor").get(pk=event_id)
    evaluation = event.evaluation
    if event.action == Action.REOPEN:
        recipients = holders(evaluation, Level.UNIT) | holders(evaluation, Level.DISTRICT)
    else:
        recipients = holders(evaluation, event.to_level or Level.UNIT)
    addresses = sorted(
        {user.email for user in recipients.exclude(pk=event.actor_id).distinct() if user.email}
    )
    if not addresses:
        return
    what = CHAIN_SUBJECTS.get(
        (event.action, event.level, event.to_level), NOTICE_SUBJECTS[event.action]
    )
    subject = (
        f"【绩效自评】{evaluation.unit.name} {evaluation.year}年度{event.get_phase_display()}{what}"
    )
    lines = [
        f"{evaluation.unit.name} {evaluation.year}年度《{evaluation.layout.title}》",
        f"{event.get_phase_display()}：{event.get_from_status_display()} → "
        f"{event.get_to_status_display()}",
    ]
    if event.to_level in (Level.PARENT, Level.DISTRICT):
        lines.append(f"当前环节：{event.get_to_level_display()}")
    lines.append(f"操作人：{event.actor.get_full_name() or event.actor.username}")
    if event.reason:
        lines.append(f"理由：{event.reason}")
    lines.append(settings.SITE_URL + reverse("evaluation_table", args=[evaluation.pk]))
    EmailMessage(subject, "\n".join(lines), to=addresses).send()
    logger.info("review notice %s sent to %d addresses", event.pk, len(addresses))
