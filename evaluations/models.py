import uuid
from datetime import timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import nh3
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import Case, Count, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from simple_history.models import HistoricalRecords
from simple_history.utils import bulk_create_with_history

from .kinds import LAYOUTS, BudgetLineKind, FormKind, Layout
from .numbers import HUNDRED, MAX_NUMBER, NUMBER_DIGITS, TWO_PLACES
from .roles import ROLE_ADMIN, scope_of
from .text import (
    NOTE_MAX_LENGTH,
    REASON_MAX_LENGTH,
    TextError,
    check_rich_text,
    check_text,
)

# 年初设定目标 / 全年完成情况 keep paragraphs, line breaks, bold and lists — nothing else.
RICH_TEXT_TAGS = {"p", "br", "strong", "b", "ul", "ol", "li"}
AMOUNT_DIGITS = NUMBER_DIGITS  # up to 12 integer digits, to the cent
# The largest amount the columns hold: 999,999,999,999.99.
MAX_AMOUNT = MAX_NUMBER


class EvaluationError(Exception):
    """A refused change to an evaluation; `message` is shown to people as it is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class EvaluationLocked(EvaluationError):
    """A change the evaluation's phase and status do not allow."""


class StaleVersion(EvaluationLocked):
    """Someone saved the evaluation since this copy was read."""

    def __init__(self, message: str = "该自评表已被他人修改，请刷新后重试（您的修改未保存）。"):
        super().__init__(message)


class TextRefused(EvaluationError):
    """Text a field cannot hold (too long, or a forbidden character), refused on save."""


def check_field_text(instance: models.Model, name: str, value: str, label: str = "") -> None:
    """The rule of `evaluations.text` for field `name` of `instance`, applied to
    `value`: rich text by its visible length, a TextField as multi-line text, a
    CharField as a one-line name; the limit is the field's max_length. TextError
    (a ValueError) in Chinese naming `label` (the field's verbose name by default)."""
    field = instance._meta.get_field(name)
    label = label or str(field.verbose_name)
    if name in getattr(instance, "RICH_TEXT_FIELDS", ()):
        check_rich_text(value, label)
    else:
        check_text(
            value,
            label,
            max_length=field.max_length or len(value),
            multiline=isinstance(field, models.TextField),
        )


def text_errors(instance: models.Model, names=None) -> dict[str, str]:
    """{field: Chinese message} for the free-text fields of `instance` (those of
    `names` only, if given) that break the text rules."""
    errors = {}
    for field in instance._meta.concrete_fields:
        if names is not None and field.name not in names:
            continue
        if not isinstance(field, models.CharField | models.TextField) or field.choices:
            continue
        value = getattr(instance, field.attname)
        if isinstance(value, str) and value:
            try:
                check_field_text(instance, field.name, value)
            except TextError as error:
                errors[field.name] = str(error)
    return errors


class CheckedText(models.Model):
    """Free text checked on every path: `full_clean` (the admin, the imports) reports
    it beside the field; `save` (everything else) refuses it with TextRefused, so
    nothing a form forgot reaches the database, a PDF or a workbook."""

    # TextFields holding rich text (HTML), limited by what is visible.
    RICH_TEXT_FIELDS: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        errors = text_errors(self, kwargs.get("update_fields"))
        if errors:
            raise TextRefused(next(iter(errors.values())))
        super().save(*args, **kwargs)

    def clean_fields(self, exclude=None) -> None:
        errors = {}
        try:
            super().clean_fields(exclude)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        for name, message in text_errors(self).items():
            if name not in errors and name not in (exclude or ()):
                errors[name] = [ValidationError(message, code="text")]
        if errors:
            raise ValidationError(errors)


def clean_rich_text(html: str) -> str:
    return nh3.clean(html or "", tags=RICH_TEXT_TAGS, attributes={}, link_rel=None).strip()


def truncate_percent(part: Decimal, whole: Decimal) -> Decimal:
    """执行率 as the official table prints it: truncated, not rounded (99.929… → 99.92),
    and 0.00 where nothing was budgeted."""
    if not whole:
        return Decimal("0.00")
    return (part * HUNDRED / whole).quantize(TWO_PLACES, rounding=ROUND_DOWN)


def execution_score(points: Decimal, rate: Decimal) -> Decimal:
    """The project form's 年度资金总额 得分: 分值 × the printed (truncated) 执行率, half
    up, never above 分值: 10 × 86.18 % = 8.62."""
    return min((points * rate / HUNDRED).quantize(TWO_PLACES, rounding=ROUND_HALF_UP), points)


class District(CheckedText):
    code = models.CharField("区划代码", max_length=32, unique=True)
    name = models.CharField("区名称", max_length=100, unique=True)
    reviewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="reviewed_districts",
        verbose_name="审核人",
    )
    units_add_projects = models.BooleanField(
        "允许单位自行添加项目",
        default=False,
        help_text="不勾选时，项目清单只由管理员导入或添加",
    )
    # On by default: it changes nothing until a 主管部门 has a 主管部门审核人, and a
    # district that reviews everything itself turns it off.
    parent_review = models.BooleanField(
        "主管部门初审",
        default=True,
        help_text="勾选时，有主管部门审核人的主管部门先初审其下属单位的自评表，再送区财政审核",
    )

    class Meta:
        verbose_name = verbose_name_plural = "区"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Unit(CheckedText):
    code = models.CharField("单位编码", max_length=64, unique=True)
    name = models.CharField("部门（单位）名称", max_length=200)
    district = models.ForeignKey(
        District, models.PROTECT, related_name="units", verbose_name="所属区"
    )
    parent = models.ForeignKey(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name="主管部门",
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="units", verbose_name="填报人"
    )

    class Meta:
        verbose_name = verbose_name_plural = "部门（单位）"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(parent=models.F("id")), name="unit_not_its_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Project(CheckedText):
    """A project of a unit, its 实施单位 (the 主管部门 is the unit's parent). It has one
    项目支出绩效自评表 per year it runs: from `first_year` to `last_year`, or on while
    `last_year` is blank. A continuing project's next form starts from its last
    targets (`evaluations.years`)."""

    unit = models.ForeignKey(Unit, models.PROTECT, related_name="projects", verbose_name="实施单位")
    code = models.CharField("项目编码", max_length=64, unique=True)
    name = models.CharField("项目名称", max_length=200)
    first_year = models.PositiveSmallIntegerField("起始年度", validators=[MinValueValidator(2000)])
    last_year = models.PositiveSmallIntegerField(
        "结束年度", null=True, blank=True, help_text="持续实施的项目留空"
    )

    class Meta:
        verbose_name = verbose_name_plural = "项目"
        ordering = ["unit__code", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(last_year__isnull=True) | Q(last_year__gte=models.F("first_year")),
                name="project_ends_after_it_starts",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def runs_in(self, year: int) -> bool:
        return self.first_year <= year and (self.last_year is None or year <= self.last_year)

    def clean(self) -> None:
        if self.first_year and self.last_year and self.last_year < self.first_year:
            raise ValidationError({"last_year": "结束年度不能早于起始年度。"})
        if self.pk is None:
            return
        # A project's forms are its unit's (access reads the form's unit) and lie in
        # years the project runs: neither may be pulled from under them.
        forms = Evaluation.objects.filter(project=self.pk)
        if self.unit_id and forms.exclude(unit=self.unit_id).exists():
            raise ValidationError({"unit": "该项目已有自评表，不能改为其他实施单位。"})
        if self.first_year:
            outside = sorted(
                year for year in forms.values_list("year", flat=True) if not self.runs_in(year)
            )
            if outside:
                years = "、".join(str(year) for year in outside)
                raise ValidationError(
                    {"first_year": f"该项目已有{years}年度的自评表，起止年度须包含这些年度。"}
                )


class EvaluationQuerySet(models.QuerySet):
    def for_user(self, user) -> "EvaluationQuerySet":
        """What `user` may see: the one road from views, admin, exports and imports.

        Staff see their units' evaluations and, read-only, those of the units under
        a 主管部门 they belong to; reviewers see their districts; 管理员 see everything;
        everyone else sees nothing.
        """
        scope = scope_of(user)
        if ROLE_ADMIN in scope.roles:
            return self.all()
        if not scope.unit_ids and not scope.district_ids:
            return self.none()
        return self.filter(
            Q(unit_id__in=scope.unit_ids)
            | Q(unit__parent_id__in=scope.unit_ids)
            | Q(unit__district_id__in=scope.district_ids)
        )

    def for_year(self, year: int) -> "EvaluationQuerySet":
        return self.filter(year=year)

    def awaiting_review(self) -> "EvaluationQuerySet":
        """The submitted ones, longest waiting first, with when they were submitted
        (`submitted_at`) and how often they were returned before (`return_count`)."""
        events = ReviewEvent.objects.filter(evaluation=OuterRef("pk"))
        submitted_at = (
            events.filter(action=ReviewEvent.Action.SUBMIT)
            .order_by("-created_at")
            .values("created_at")[:1]
        )
        returns = (
            events.filter(action=ReviewEvent.Action.RETURN)
            .values("evaluation")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return (
            self.filter(status=Evaluation.Status.SUBMITTED)
            .select_related("unit", "unit__parent", "unit__district", "project")
            .annotate(submitted_at=Subquery(submitted_at), return_count=Subquery(returns))
            .order_by("submitted_at", "unit__code")
        )

    def with_scores(self) -> "EvaluationQuerySet":
        """Annotated in SQL with `total_score` (Σ 得分 of the indicators, None before any)
        and, once the district re-checked a row, `review_total` (复核总分: its score where
        it re-checked, the unit's elsewhere) and `review_difference`. Lists (queue,
        to-do) read these; the table page computes the same from the tree."""
        # By name: the app `indicators` imports this module.
        indicator_model = apps.get_model("indicators", "Indicator")
        indicators = indicator_model.objects.filter(
            category__group__evaluation=OuterRef("pk")
        ).order_by()
        money = models.DecimalField(max_digits=16, decimal_places=2)
        totals = indicators.values("category__group__evaluation").annotate(total=Sum("score"))
        rechecked = (
            indicators.filter(review_score__isnull=False)
            .values("category__group__evaluation")
            .annotate(delta=Sum(F("review_score") - Coalesce("score", Value(Decimal("0")))))
        )
        lines = BudgetLine.objects.filter(evaluation=OuterRef("pk")).order_by().values("evaluation")
        return self.annotate(
            total_score=Subquery(totals.values("total")[:1], output_field=money),
            review_difference=Subquery(rechecked.values("delta")[:1], output_field=money),
            # For the project form's execution score (`Evaluation.self_total`).
            budget_sum=Subquery(
                lines.annotate(sum=Sum("budget_amount")).values("sum")[:1], output_field=money
            ),
            executed_sum=Subquery(
                lines.annotate(sum=Sum("executed_amount")).values("sum")[:1], output_field=money
            ),
        ).annotate(
            review_total=Case(
                When(
                    review_difference__isnull=False,
                    then=Coalesce("total_score", Value(Decimal("0"))) + F("review_difference"),
                ),
                default=None,
                output_field=money,
            )
        )

    def with_table(self) -> "EvaluationQuerySet":
        """Everything the official table draws, in a fixed number of queries. The
        hierarchy's models (app `indicators`) are parts of an evaluation and import
        this module; it reaches them through their relations only (ordered by their
        Meta: position, then id), so no import runs the other way."""
        return self.select_related(
            "unit", "unit__district", "unit__parent", "project"
        ).prefetch_related("budget_lines", "indicator_groups__categories__indicators")


class EvaluationPhase(models.TextChoices):
    TARGETS = "targets", "年初目标"
    RESULTS = "results", "年末自评"


class ReviewLevel(models.TextChoices):
    """The places of the review chain 填报 → 主管部门初审 → 区财政审核."""

    UNIT = "unit", "单位填报"
    PARENT = "parent", "主管部门初审"
    DISTRICT = "district", "区财政审核"
    ADMIN = "admin", "管理员"


class EvaluationStatus(models.TextChoices):
    DRAFT = "draft", "草稿"
    SUBMITTED = "submitted", "已提交"
    RETURNED = "returned", "已退回"
    APPROVED = "approved", "已审核"


class Evaluation(CheckedText):
    """One self-evaluation form: a unit's 部门（单位）整体支出绩效自评表 of a year, or
    the 项目支出绩效自评表 of one of its projects (`kind`; what differs between the
    two is described in `evaluations.kinds`, read through `layout`).

    A year has two phases, each filled by the unit and reviewed by the district:
    the targets (年初) and the results (年末). Approving the targets opens the
    results phase; approving the results makes the form final. Only
    `evaluations.workflow` moves `phase` and `status`.
    """

    Phase = EvaluationPhase
    Status = EvaluationStatus
    Level = ReviewLevel

    # 再复核: what a reviewer records on a submitted results phase.
    RECHECK_FIELDS = {"indicator": ("review_score", "review_opinion")}
    # Written by the workflow only.
    WORKFLOW_FIELDS = ("phase", "status", "version", "review_level")
    RICH_TEXT_FIELDS = ("target_text", "result_text")
    EDITABLE_STATUSES = (Status.DRAFT, Status.RETURNED)

    Kind = FormKind

    kind = models.CharField("表类型", max_length=20, choices=FormKind, default=FormKind.OVERALL)
    # A project form's unit is its project's: every access rule that reads `unit`
    # serves both kinds, so a project form is seen by exactly those who see its
    # unit's overall form.
    unit = models.ForeignKey(Unit, models.PROTECT, related_name="evaluations", verbose_name="单位")
    project = models.ForeignKey(
        Project,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="evaluations",
        verbose_name="项目",
    )
    year = models.PositiveSmallIntegerField("年度", validators=[MinValueValidator(2000)])
    phase = models.CharField("阶段", max_length=20, choices=Phase, default=Phase.TARGETS)
    status = models.CharField("状态", max_length=20, choices=Status, default=Status.DRAFT)
    # Which level holds a submitted phase: the 主管部门 (初审) or the district. Read only
    # while the status is 已提交; the workflow sets it on every step of the chain.
    review_level = models.CharField(
        "审核环节",
        max_length=20,
        choices=[
            (level.value, level.label) for level in (ReviewLevel.PARENT, ReviewLevel.DISTRICT)
        ],
        default=ReviewLevel.DISTRICT,
    )
    version = models.PositiveIntegerField(
        "版本", default=1, help_text="每次保存加一；带着旧版本号的保存会被拒绝"
    )
    subordinate_unit_count = models.PositiveIntegerField(
        "下属单位个数", blank=True, help_text="留空则按该单位的下属单位数自动填写"
    )
    target_text = models.TextField("年初设定目标", blank=True)
    result_text = models.TextField("全年完成情况", blank=True)
    # The project form's 年度资金总额 分值, copied from the year's 指标库 when the form
    # starts; the overall form's budget block does not score.
    budget_points = models.DecimalField(
        "项目资金分值",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = EvaluationQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["version", "updated_at"])

    class Meta:
        verbose_name = verbose_name_plural = "绩效自评表"
        ordering = ["-year", "unit__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["unit", "year"],
                condition=Q(kind=FormKind.OVERALL),
                name="one_evaluation_per_unit_and_year",
            ),
            models.UniqueConstraint(
                fields=["project", "year"], name="one_evaluation_per_project_and_year"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=FormKind.values), name="evaluation_kind_known"
            ),
            models.CheckConstraint(
                condition=Q(kind=FormKind.OVERALL, project__isnull=True, budget_points__isnull=True)
                | Q(kind=FormKind.PROJECT, project__isnull=False, budget_points__isnull=False),
                name="evaluation_project_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(phase__in=EvaluationPhase.values), name="evaluation_phase_known"
            ),
            models.CheckConstraint(
                condition=Q(status__in=EvaluationStatus.values),
                name="evaluation_status_known",
            ),
            # Approving the targets opens the results phase at once.
            models.CheckConstraint(
                condition=~Q(phase=EvaluationPhase.TARGETS, status=EvaluationStatus.APPROVED),
                name="evaluation_targets_not_left_approved",
            ),
            models.CheckConstraint(
                condition=Q(review_level__in=[ReviewLevel.PARENT, ReviewLevel.DISTRICT]),
                name="evaluation_review_level_known",
            ),
        ]

    def __str__(self) -> str:
        if self.project_id:
            return f"{self.project.name}（{self.unit.name}，{self.year}年度）"
        return f"{self.unit.name}（{self.year}年度）"

    def save(self, *args, transition: bool = False, **kwargs) -> None:
        """Saves only what the current phase allows; `transition=True` is for
        `evaluations.workflow`, the one writer of phase, status and version."""
        if self.project_id and self._state.adding:
            # The project's unit, whatever the caller passed: access reads `unit`.
            self.unit_id = self.project.unit_id
        self.target_text = clean_rich_text(self.target_text)
        self.result_text = clean_rich_text(self.result_text)
        if self.subordinate_unit_count is None:
            self.subordinate_unit_count = self.unit.children.count()
        if self._state.adding:
            # Every evaluation has all the lines of its budget block from the start:
            # rows cannot be added once the targets are approved, so a missing one
            # could never be filled.
            with transaction.atomic():
                super().save(*args, **kwargs)
                lines = [
                    BudgetLine(evaluation=self, kind=kind) for kind in self.layout.budget_kinds
                ]
                bulk_create_with_history(lines, BudgetLine)
            return
        with transaction.atomic():
            stored = _lock_evaluation(pk=self.pk)
            if not transition:
                _check_change(stored, self, kwargs.get("update_fields"))
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        with transaction.atomic():
            stored = _lock_evaluation(pk=self.pk)
            if not stored.rows_can_be_added:
                raise EvaluationLocked(f"{stored.state_display}的自评表不能删除。")
            return super().delete(*args, **kwargs)

    @property
    def layout(self) -> Layout:
        return LAYOUTS[self.kind]

    @property
    def is_project(self) -> bool:
        return self.kind == FormKind.PROJECT

    @property
    def self_total(self) -> Decimal | None:
        """自评总分 of a form from `with_scores()`, as the form prints it: Σ 得分 and, on
        a project form in its results phase, the 年度资金总额's execution score."""
        return self._with_budget_score(self.total_score)

    @property
    def recheck_total(self) -> Decimal | None:
        """复核总分 of a form from `with_scores()`, the execution score included."""
        return self._with_budget_score(self.review_total)

    def _with_budget_score(self, indicators: Decimal | None) -> Decimal | None:
        if indicators is None or not self.layout.scores_budget:
            return indicators
        if self.phase != self.Phase.RESULTS or self.budget_points is None:
            return indicators
        rate = truncate_percent(self.executed_sum or Decimal("0"), self.budget_sum or Decimal("0"))
        return indicators + execution_score(self.budget_points, rate)

    @property
    def subject(self) -> str:
        """What the form is of, in lists and titles: the unit, or the project."""
        return self.project.name if self.project_id else self.unit.name

    def lineage(self) -> dict:
        """The lookup of this form in other years: the project's forms, or the
        unit's overall forms."""
        if self.project_id:
            return {"project_id": self.project_id}
        return {"unit_id": self.unit_id, "kind": FormKind.OVERALL}

    def clean(self) -> None:
        if self.project_id and self.unit_id and self.project.unit_id != self.unit_id:
            raise ValidationError({"project": "项目不属于该单位。"})

    @property
    def state_display(self) -> str:
        """年初目标 · 已提交, 年末自评 · 已审核 …"""
        return f"{self.get_phase_display()} · {self.get_status_display()}"

    @property
    def is_final(self) -> bool:
        return self.phase == self.Phase.RESULTS and self.status == self.Status.APPROVED

    @property
    def targets_approved(self) -> bool:
        return self.phase == self.Phase.RESULTS

    def editable_fields(self, model: type[models.Model] | str) -> tuple[str, ...]:
        """The unit's fields of `model` that may change now: those of the current
        phase while it is a draft or returned, none otherwise."""
        model_name = model if isinstance(model, str) else model._meta.model_name
        if self.status not in self.EDITABLE_STATUSES:
            return ()
        return self.layout.phase_fields[self.phase].get(model_name, ())

    @property
    def held_by(self) -> str:
        """The level that holds the form now (`ReviewLevel`), or "" once it is final."""
        if self.status == self.Status.SUBMITTED:
            return self.review_level
        if self.status == self.Status.APPROVED:
            return ""
        return ReviewLevel.UNIT

    def recheck_fields(self, model: type[models.Model] | str) -> tuple[str, ...]:
        model_name = model if isinstance(model, str) else model._meta.model_name
        if self.phase == self.Phase.RESULTS and self.held_by == ReviewLevel.DISTRICT:
            return self.RECHECK_FIELDS.get(model_name, ())
        return ()

    @property
    def rows_can_be_added(self) -> bool:
        """Rows (indicators, budget lines) are part of the targets."""
        return self.phase == self.Phase.TARGETS and self.status in self.EDITABLE_STATUSES


def _lock_evaluation(**lookup) -> Evaluation:
    """The evaluation as stored, its row locked until the transaction ends."""
    return Evaluation.objects.select_for_update(of=("self",)).get(**lookup)


def _touch(evaluation: Evaluation) -> None:
    """Moves the evaluation's `updated_at` when one of its rows is written, also by a
    write outside `workflow.changing` (which raises the version): the table page is
    cached by the evaluation's row, so a change of any row must show in it."""
    Evaluation.objects.filter(pk=evaluation.pk).update(updated_at=timezone.now())


def _changed_fields(instance: models.Model, update_fields) -> list[models.Field]:
    fields = [
        field
        for field in instance._meta.concrete_fields
        if not field.primary_key
        and field.name not in ("created_at", "updated_at")
        and (update_fields is None or field.name in update_fields)
    ]
    stored = (
        type(instance)
        ._base_manager.filter(pk=instance.pk)
        .values(*(field.attname for field in fields))
    )
    stored = stored.first()
    if stored is None:
        return []
    return [
        field
        for field in fields
        if field.to_python(getattr(instance, field.attname)) != stored[field.attname]
    ]


def _check_change(evaluation: Evaluation, instance: models.Model, update_fields=None) -> None:
    """Refuses a save of `instance` (the evaluation or one of its rows) that changes
    a field its phase and status do not open. `evaluation` is the stored state."""
    model_name = instance._meta.model_name
    allowed = set(evaluation.editable_fields(model_name)) | set(
        evaluation.recheck_fields(model_name)
    )
    refused = [
        field for field in _changed_fields(instance, update_fields) if field.name not in allowed
    ]
    if not refused:
        return
    if any(field.name == "version" for field in refused):
        raise StaleVersion()
    if any(field.name in Evaluation.WORKFLOW_FIELDS for field in refused):
        raise EvaluationLocked(
            "自评表的阶段和状态只能通过提交、退回、审核或重新打开改变；"
            "该自评表可能已被他人处理，请刷新后重试。"
        )
    names = "、".join(f"“{field.verbose_name}”" for field in refused)
    raise EvaluationLocked(_refusal(evaluation, names))


def _refusal(evaluation: Evaluation, what: str) -> str:
    if evaluation.is_final:
        return f"该自评表已审核，{what}不能再修改；如需修改，请管理员重新打开。"
    if evaluation.status == Evaluation.Status.SUBMITTED:
        return f"该自评表{evaluation.get_phase_display()}已提交审核，{what}暂不能修改。"
    if evaluation.targets_approved:
        return f"年初目标已审核，{what}不能再修改。"
    return f"{evaluation.state_display}：{what}不能修改。"


def anchor_of(prefix: str, key) -> str:
    return f"{prefix}-{key}"


def parse_anchor(anchor: str) -> tuple[str, str]:
    """("indicator", "12") from "indicator-12"."""
    prefix, _, key = anchor.partition("-")
    return prefix, key


class EvaluationPart(CheckedText):
    """A row of an evaluation (budget line, indicator …): saved and deleted only as
    far as the evaluation's phase and status allow, whatever path the write takes."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        with transaction.atomic():
            evaluation = _lock_evaluation(**self.evaluation_lookup())
            if self._state.adding:
                if not evaluation.rows_can_be_added:
                    raise EvaluationLocked(_refusal(evaluation, "指标和预算行"))
            else:
                _check_change(evaluation, self, kwargs.get("update_fields"))
            super().save(*args, **kwargs)
            _touch(evaluation)

    def delete(self, *args, **kwargs):
        with transaction.atomic():
            evaluation = _lock_evaluation(**self.evaluation_lookup())
            if not evaluation.rows_can_be_added:
                raise EvaluationLocked(_refusal(evaluation, "指标和预算行"))
            deleted = super().delete(*args, **kwargs)
            _touch(evaluation)
            return deleted

    def evaluation_lookup(self) -> dict:
        """How to find the owning evaluation, also before this row exists."""
        raise NotImplementedError

    # A row's anchor names it on every page, in every fault and review note:
    # "indicator-12", and "indicator-new3" on the entry page before it is saved.
    anchor_prefix = ""
    new_key = ""

    @property
    def anchor(self) -> str:
        return anchor_of(self.anchor_prefix, self.pk if self.pk is not None else self.new_key)


AMOUNT_FIELDS = ("initial_budget_amount", "budget_amount", "executed_amount")


class BudgetLine(EvaluationPart):
    """One line of a form's budget block: 整体支出规模（元） on the overall form,
    项目资金（元） on the project form. Which lines a form has, and which columns it
    shows, is its layout's (`evaluations.kinds`)."""

    Kind = BudgetLineKind

    evaluation = models.ForeignKey(
        Evaluation, models.CASCADE, related_name="budget_lines", verbose_name="自评表"
    )
    kind = models.CharField("项目", max_length=20, choices=Kind)
    initial_budget_amount = models.DecimalField(
        "年初预算数", **AMOUNT_DIGITS, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )
    budget_amount = models.DecimalField(
        "全年预算数", **AMOUNT_DIGITS, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )
    executed_amount = models.DecimalField(
        "全年执行数", **AMOUNT_DIGITS, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "整体支出规模"
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "kind"], name="one_budget_line_per_kind"),
            models.CheckConstraint(
                condition=Q(budget_amount__gte=0), name="budget_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(executed_amount__gte=0), name="executed_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(initial_budget_amount__gte=0),
                name="initial_budget_amount_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.get_kind_display()

    def clean(self) -> None:
        # My reading of 上年结转资金: money a project carries from its own previous
        # year, which a project in its first year cannot have.
        evaluation = self.evaluation
        project = evaluation.project if evaluation.project_id else None
        if (
            self.kind == self.Kind.CARRYOVER
            and project is not None
            and evaluation.year <= project.first_year
            and (filled := [name for name in AMOUNT_FIELDS if getattr(self, name)])
        ):
            raise ValidationError(
                {
                    filled[0]: f"“{project.name}”{evaluation.year}年度是项目实施的第一年，"
                    "没有上年结转资金，请把该行填为 0 或核对项目的起始年度。"
                }
            )

    @property
    def execution_rate(self) -> Decimal:
        return truncate_percent(self.executed_amount, self.budget_amount)

    anchor_prefix = "budget"

    @property
    def anchor(self) -> str:
        return anchor_of(self.anchor_prefix, self.kind)

    def evaluation_lookup(self) -> dict:
        return {"pk": self.evaluation_id}


class ReviewEvent(CheckedText):
    """One step of the review, as it happened: who moved which phase from what to what, and why."""

    class Action(models.TextChoices):
        SUBMIT = "submit", "提交"
        RETURN = "return", "退回"
        APPROVE = "approve", "审核通过"
        REOPEN = "reopen", "重新打开"
        RECHECK = "recheck", "再复核"

    evaluation = models.ForeignKey(
        Evaluation, models.CASCADE, related_name="review_events", verbose_name="自评表"
    )
    Level = ReviewLevel

    action = models.CharField("操作", max_length=20, choices=Action)
    phase = models.CharField("阶段", max_length=20, choices=Evaluation.Phase)
    # Where in the chain the step was taken, and who holds the form after it.
    level = models.CharField("环节", max_length=20, choices=ReviewLevel, blank=True)
    to_level = models.CharField("送至", max_length=20, choices=ReviewLevel, blank=True)
    from_status = models.CharField("原状态", max_length=20, choices=Evaluation.Status)
    to_status = models.CharField("新状态", max_length=20, choices=Evaluation.Status)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="+", verbose_name="操作人"
    )
    reason = models.TextField("理由", max_length=REASON_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "审核记录"
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(action__in=["return", "reopen"]) | ~Q(reason=""),
                name="review_event_return_and_reopen_have_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}{self.get_phase_display()}"


class ReviewComment(CheckedText):
    """A reviewer's note pinned on one indicator row or budget line when returning."""

    event = models.ForeignKey(
        ReviewEvent, models.CASCADE, related_name="comments", verbose_name="审核记录"
    )
    indicator = models.ForeignKey(
        "indicators.Indicator",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="review_comments",
        verbose_name="三级指标",
    )
    budget_line = models.ForeignKey(
        BudgetLine,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="review_comments",
        verbose_name="整体支出规模",
    )
    # The row's name when the comment was made: the row may be renamed or deleted later.
    row_label = models.CharField("所在行", max_length=200)
    text = models.TextField("意见", max_length=NOTE_MAX_LENGTH)

    class Meta:
        verbose_name = verbose_name_plural = "逐行审核意见"
        constraints = [
            models.CheckConstraint(
                condition=Q(indicator__isnull=True) | Q(budget_line__isnull=True),
                name="review_comment_on_one_row",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.row_label}：{self.text}"

    @property
    def anchor(self) -> str:
        if self.indicator_id:
            indicator_model = self._meta.get_field("indicator").related_model
            return anchor_of(indicator_model.anchor_prefix, self.indicator_id)
        if self.budget_line_id:
            return self.budget_line.anchor
        return ""


class WorkbookUpload(models.Model):
    """An uploaded official-table workbook between its preview and its confirmation:
    the parsed data (not the file) and a fingerprint of the evaluation as previewed."""

    evaluation = models.ForeignKey(
        Evaluation, models.CASCADE, related_name="workbook_uploads", verbose_name="自评表"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="+", verbose_name="上传人"
    )
    file_name = models.CharField("文件名", max_length=200)
    data = models.JSONField("解析结果")
    base_fingerprint = models.CharField("预览时的自评表指纹", max_length=64)
    created_at = models.DateTimeField("上传时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "待确认的工作簿导入"

    def __str__(self) -> str:
        return f"{self.file_name}（{self.evaluation}）"


class AttachmentCategory(models.TextChoices):
    """What a piece of evidence (佐证材料) proves: the categories of the commercial
    一体化 modules, fixed here rather than per 指标库 (they do not change by year)."""

    TARGETS = "targets", "绩效目标"
    EXECUTION = "execution", "执行数据"
    FINANCE = "finance", "财务数据"
    RESULTS = "results", "成果证明"
    SATISFACTION = "satisfaction", "满意度调查"
    OTHER = "other", "其他"
    # The unit's sealed (盖章) PDF of the approved table; one per form at a time.
    SEALED = "sealed", "盖章版"


INLINE_CONTENT_TYPES = ("application/pdf", "image/png", "image/jpeg")


def attachment_path(attachment: "Attachment", file_name: str) -> str:
    """Where the file lives in the storage: by form and a random name, never the
    uploader's name (which is kept in `file_name` and given back on download)."""
    return f"evidence/{attachment.evaluation_id}/{uuid.uuid4().hex}"


class Attachment(CheckedText):
    """A file attached to a form (佐证材料), to one of its indicator rows or to the
    form as a whole, or the sealed PDF of the approved form. Written and removed only
    by `evaluations.evidence`, under the form's phase rules; a removal keeps the row
    and the file (who removed it and when), so nothing disappears unnoticed."""

    Category = AttachmentCategory

    evaluation = models.ForeignKey(
        Evaluation, models.CASCADE, related_name="attachments", verbose_name="自评表"
    )
    indicator = models.ForeignKey(
        "indicators.Indicator",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="attachments",
        verbose_name="三级指标",
    )
    # The row's name when the file was attached: the row may be renamed or removed.
    row_label = models.CharField("所在行", max_length=200, blank=True)
    category = models.CharField("类别", max_length=20, choices=Category)
    title = models.CharField("标题", max_length=100)
    file = models.FileField("文件", upload_to=attachment_path, max_length=200)
    file_name = models.CharField("文件名", max_length=200)
    content_type = models.CharField("文件类型", max_length=100)
    size = models.PositiveBigIntegerField("大小（字节）")
    sha256 = models.CharField("SHA-256", max_length=64)
    # The phase the file was attached in: once that phase is approved it stays.
    phase = models.CharField("阶段", max_length=20, choices=EvaluationPhase)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="+", verbose_name="上传人"
    )
    uploaded_at = models.DateTimeField("上传时间", auto_now_add=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="删除人",
    )
    removed_at = models.DateTimeField("删除时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "佐证材料"
        ordering = ["uploaded_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(category__in=AttachmentCategory.values),
                name="attachment_category_known",
            ),
            models.CheckConstraint(
                condition=Q(removed_at__isnull=True, removed_by__isnull=True)
                | Q(removed_at__isnull=False, removed_by__isnull=False),
                name="attachment_removed_by_whom_and_when",
            ),
            models.CheckConstraint(
                condition=~Q(category=AttachmentCategory.SEALED) | Q(indicator__isnull=True),
                name="attachment_sealed_belongs_to_the_form",
            ),
            models.CheckConstraint(condition=Q(size__gt=0), name="attachment_not_empty"),
        ]
        indexes = [models.Index(fields=["evaluation", "removed_at"], name="attachment_current")]

    def __str__(self) -> str:
        return f"{self.title}（{self.file_name}）"

    @property
    def is_sealed(self) -> bool:
        return self.category == AttachmentCategory.SEALED

    @property
    def row_anchor(self) -> str:
        if self.indicator_id:
            return anchor_of("indicator", self.indicator_id)
        return ""

    @property
    def opens_inline(self) -> bool:
        """PDFs and pictures open in the browser; anything else is downloaded."""
        return self.content_type in INLINE_CONTENT_TYPES

    @property
    def size_display(self) -> str:
        if self.size >= 1024 * 1024:
            return f"{self.size / 1024 / 1024:.1f} MB"
        if self.size >= 1024:
            return f"{self.size / 1024:.0f} KB"
        return f"{self.size} 字节"

    @property
    def uploader_display(self) -> str:
        return self.uploaded_by.first_name or self.uploaded_by.username

    @property
    def remover_display(self) -> str:
        if self.removed_by is None:
            return ""
        return self.removed_by.first_name or self.removed_by.username


class ExportJobStatus(models.TextChoices):
    RUNNING = "running", "进行中"
    ASSEMBLING = "assembling", "打包中"
    DONE = "done", "已完成"
    FAILED = "failed", "有失败项"


class ExportItemStatus(models.TextChoices):
    PENDING = "pending", "等待中"
    RUNNING = "running", "生成中"
    DONE = "done", "已完成"
    FAILED = "failed", "失败"


class ExportJob(models.Model):
    """A bulk export: the PDFs of a year's evaluations (optionally of one 主管部门 or one
    stage) and the year's overview, in one zip. Its items are rendered one task each."""

    Status = ExportJobStatus

    year = models.PositiveSmallIntegerField("年度", validators=[MinValueValidator(2000)])
    stage = models.CharField("状态筛选", max_length=40, blank=True)
    parent = models.ForeignKey(
        Unit,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="主管部门筛选",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="发起人",
    )
    status = models.CharField("状态", max_length=20, choices=Status, default=Status.RUNNING)
    created_at = models.DateTimeField("发起时间", auto_now_add=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    archive_path = models.CharField("压缩包路径", max_length=300, blank=True)
    error = models.TextField("错误", blank=True)
    # Packing is claimed like an item's render: the sweeper queues it again when its
    # worker died (it stays 打包中 otherwise), and gives up after EXPORT_MAX_ATTEMPTS.
    # While the job is 进行中 again, the time is when the packing was last queued.
    assembling_attempts = models.PositiveSmallIntegerField("打包次数", default=0)
    assembling_started_at = models.DateTimeField("打包开始时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "批量导出"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ExportJobStatus.values),
                name="export_job_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year}年度批量导出 #{self.pk}"


class ExportItem(models.Model):
    """One evaluation's PDF within an export job."""

    Status = ExportItemStatus

    job = models.ForeignKey(ExportJob, models.CASCADE, related_name="items", verbose_name="导出")
    evaluation = models.ForeignKey(
        Evaluation, models.CASCADE, related_name="export_items", verbose_name="自评表"
    )
    status = models.CharField("状态", max_length=20, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField("尝试次数", default=0)
    started_at = models.DateTimeField("开始时间", null=True, blank=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    worker = models.CharField("处理进程", max_length=100, blank=True)
    # A hash of everything the PDF draws; an unchanged table reuses the stored file.
    fingerprint = models.CharField("输入指纹", max_length=64, blank=True)
    file_path = models.CharField("文件路径", max_length=300, blank=True)
    reused = models.BooleanField("沿用上次的文件", default=False)
    error = models.TextField("错误", blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "批量导出项"
        constraints = [
            models.UniqueConstraint(
                fields=["job", "evaluation"], name="one_export_item_per_evaluation"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ExportItemStatus.values),
                name="export_item_status_known",
            ),
        ]
        indexes = [models.Index(fields=["status", "started_at"], name="export_item_status_started")]

    def __str__(self) -> str:
        return f"{self.job} · {self.evaluation_id}"


# ---------------------------------------------------------------- filing windows
#
# The district's notice of the year sets a window for each phase and kind of form
# (docs/domain.md §9): data, never code. What the dates mean (countdown, refusal,
# reminder dates) is `evaluations.windows`; reminders are `evaluations.reminders`.


class FilingWindow(models.Model):
    """When a district's units file one phase of one kind of form for a year: from
    `opens_on`, due on `due_on`, still accepted `grace_days` after it. Later, only a
    unit with an extension (`Extension`) may submit."""

    district = models.ForeignKey(
        District, models.CASCADE, related_name="filing_windows", verbose_name="区"
    )
    year = models.PositiveSmallIntegerField("年度", validators=[MinValueValidator(2000)])
    phase = models.CharField("阶段", max_length=20, choices=EvaluationPhase)
    kind = models.CharField("表类型", max_length=20, choices=FormKind, default=FormKind.OVERALL)
    opens_on = models.DateField("开始填报日期")
    due_on = models.DateField("截止日期")
    grace_days = models.PositiveSmallIntegerField(
        "宽限天数", default=0, help_text="截止日期后仍可提交的天数；过后只有获准延期的单位可以提交"
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "填报期限"
        ordering = ["-year", "district__code", "kind", "phase"]
        constraints = [
            models.UniqueConstraint(
                fields=["district", "year", "phase", "kind"],
                name="one_filing_window_per_district_year_phase_and_kind",
            ),
            models.CheckConstraint(
                condition=Q(due_on__gte=F("opens_on")), name="filing_window_due_after_it_opens"
            ),
            models.CheckConstraint(
                condition=Q(phase__in=EvaluationPhase.values), name="filing_window_phase_known"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=FormKind.values), name="filing_window_kind_known"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.district.name} {self.year}年度{self.get_kind_display()}"
            f"{self.get_phase_display()}（{self.opens_on:%Y-%m-%d}至{self.due_on:%Y-%m-%d}）"
        )

    def clean(self) -> None:
        if self.opens_on and self.due_on and self.due_on < self.opens_on:
            raise ValidationError({"due_on": "截止日期不能早于开始填报日期。"})


class Extension(CheckedText):
    """延期: the district lets one unit submit a window's forms until `until`, after
    the window closed. Never edited: each grant is a row of its own (who, when, why),
    like DHIS2's lock exceptions; the latest `until` counts."""

    window = models.ForeignKey(
        FilingWindow, models.CASCADE, related_name="extensions", verbose_name="填报期限"
    )
    unit = models.ForeignKey(Unit, models.CASCADE, related_name="extensions", verbose_name="单位")
    until = models.DateField("延期至")
    reason = models.TextField("延期理由", max_length=REASON_MAX_LENGTH)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="批准人",
    )
    created_at = models.DateTimeField("批准时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "延期"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="extension_has_a_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.unit.name} 延期至{self.until:%Y-%m-%d}"

    def clean(self) -> None:
        if not (self.window_id and self.unit_id and self.until):
            return
        if self.unit.district_id != self.window.district_id:
            raise ValidationError({"unit": "该单位不属于此填报期限所在的区。"})
        closes_on = self.window.due_on + timedelta(days=self.window.grace_days)
        if self.until <= closes_on:
            raise ValidationError(
                {"until": f"延期至的日期须晚于截止日期及宽限期（{closes_on:%Y-%m-%d}）。"}
            )


class ReminderPoint(models.Model):
    """One point of the reminder schedule, for every window: when it opens, half-way,
    N days before it is due, N days after (overdue)."""

    class Anchor(models.TextChoices):
        OPENS = "opens", "开始填报后"
        HALFWAY = "halfway", "填报期过半"
        BEFORE_DUE = "before_due", "截止前"
        OVERDUE = "overdue", "截止后（逾期）"

    anchor = models.CharField("提醒时点", max_length=20, choices=Anchor)
    days = models.PositiveSmallIntegerField(
        "天数", default=0, help_text="开始后、截止前或截止后的天数；“填报期过半”不用"
    )

    class Meta:
        verbose_name = verbose_name_plural = "提醒时点"
        constraints = [
            models.UniqueConstraint(fields=["anchor", "days"], name="one_reminder_point_per_day"),
            models.CheckConstraint(
                condition=Q(anchor__in=["opens", "halfway", "before_due", "overdue"]),
                name="reminder_point_anchor_known",
            ),
        ]

    def __str__(self) -> str:
        if self.anchor == self.Anchor.HALFWAY:
            return self.get_anchor_display()
        if self.anchor == self.Anchor.OPENS and not self.days:
            return "开始填报当天"
        return f"{self.get_anchor_display()}{self.days}天"


class Reminder(models.Model):
    """A reminder sent to a unit that had not submitted a window's forms: a scheduled
    one (`point`; at most one per window, unit and point, so `send_reminders` may run
    any number of times) or a reviewer's 催办 (`sent_by`, no point)."""

    window = models.ForeignKey(
        FilingWindow, models.CASCADE, related_name="reminders", verbose_name="填报期限"
    )
    unit = models.ForeignKey(Unit, models.CASCADE, related_name="reminders", verbose_name="单位")
    point = models.ForeignKey(
        ReminderPoint,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="reminders",
        verbose_name="提醒时点",
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="催办人",
    )
    message = models.TextField("提醒内容")
    recipients = models.TextField("收件人", blank=True)
    created_at = models.DateTimeField("发送时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "催办与提醒"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["window", "unit", "point"],
                condition=Q(point__isnull=False),
                name="one_reminder_per_window_unit_and_point",
            ),
            models.CheckConstraint(
                condition=Q(point__isnull=True, sent_by__isnull=False)
                | Q(point__isnull=False, sent_by__isnull=True),
                name="reminder_scheduled_or_sent_by_someone",
            ),
        ]

    def __str__(self) -> str:
        what = "催办" if self.sent_by_id else "提醒"
        return f"{self.unit.name} {what}（{timezone.localtime(self.created_at):%Y-%m-%d %H:%M}）"
