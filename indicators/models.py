"""The three-level indicator hierarchy of one evaluation: 一级 → 二级 → 三级.

The scored rows are `Indicator`s. Where a 一级 has no 三级 (投入管理指标: its 二级
carry the points and the 三级 column is one merged note), each 二级 holds exactly
one `Indicator` with an empty name.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from evaluations.kinds import DEFAULT_BUDGET_POINTS, FormKind
from evaluations.models import CheckedText, EvaluationPart
from evaluations.text import NOTE_MAX_LENGTH, REASON_MAX_LENGTH

from .scoring import round_score
from .values import COMPARATORS, IndicatorValue, ValueParseError, format_value, parse_value


def validate_target(text: str) -> None:
    """A 年度指标值 as people write it (=100.00(%), ≥90.00(%), 提升) or nothing."""
    try:
        parse_value(text)
    except ValueParseError as error:
        raise ValidationError(str(error)) from None


SCORE_DIGITS = {"max_digits": 5, "decimal_places": 2}


class IndicatorGroup(EvaluationPart):
    """一级指标, with its 权重."""

    evaluation = models.ForeignKey(
        "evaluations.Evaluation",
        models.CASCADE,
        related_name="indicator_groups",
        verbose_name="自评表",
    )
    position = models.PositiveSmallIntegerField("顺序", default=0)
    name = models.CharField("一级指标", max_length=100)
    weight = models.DecimalField(
        "权重",
        **SCORE_DIGITS,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(100)],
    )
    note = models.CharField(
        "三级指标说明",
        max_length=300,
        blank=True,
        help_text="该一级指标不设三级指标时，在三级指标栏合并显示的说明文字",
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "一级指标"
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gt=0) & Q(weight__lte=100),
                name="group_weight_between_0_and_100",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    anchor_prefix = "group"

    def evaluation_lookup(self) -> dict:
        return {"pk": self.evaluation_id}


class IndicatorCategory(EvaluationPart):
    """二级指标."""

    group = models.ForeignKey(
        IndicatorGroup, models.CASCADE, related_name="categories", verbose_name="一级指标"
    )
    position = models.PositiveSmallIntegerField("顺序", default=0)
    name = models.CharField("二级指标", max_length=100)

    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "二级指标"
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    anchor_prefix = "category"

    def evaluation_lookup(self) -> dict:
        return {"indicator_groups": self.group_id}


class Indicator(EvaluationPart):
    """A scored row: 三级指标, or a 二级 scored by itself (then `name` is empty)."""

    class Comparator(models.TextChoices):
        EQUAL = "=", "="
        AT_LEAST = "≥", "≥"
        AT_MOST = "≤", "≤"
        ABOVE = ">", ">"
        BELOW = "<", "<"

    category = models.ForeignKey(
        IndicatorCategory, models.CASCADE, related_name="indicators", verbose_name="二级指标"
    )
    position = models.PositiveSmallIntegerField("顺序", default=0)
    name = models.CharField("三级指标", max_length=200, blank=True)

    target_comparator = models.CharField(
        "年度指标值比较符", max_length=1, choices=Comparator, blank=True
    )
    target_number = models.DecimalField(
        "年度指标值数值", max_digits=14, decimal_places=2, null=True, blank=True
    )
    target_unit = models.CharField("年度指标值单位", max_length=10, blank=True)
    target_label = models.CharField("年度指标值（定性）", max_length=50, blank=True)

    actual_number = models.DecimalField(
        "全年完成值数值", max_digits=14, decimal_places=2, null=True, blank=True
    )
    actual_unit = models.CharField("全年完成值单位", max_length=10, blank=True)
    actual_label = models.CharField("全年完成值（定性）", max_length=50, blank=True)

    points = models.DecimalField("分值", **SCORE_DIGITS, validators=[MinValueValidator(0)])
    score = models.DecimalField(
        "得分", **SCORE_DIGITS, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    deviation_reason = models.TextField("偏差及原因分析", max_length=REASON_MAX_LENGTH, blank=True)

    # 再复核: the district reviewer's own score and opinion, beside the unit's.
    review_score = models.DecimalField(
        "复核得分", **SCORE_DIGITS, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    review_opinion = models.TextField("复核意见", max_length=NOTE_MAX_LENGTH, blank=True)
    # Copied from the 指标库 line the row started from (`evaluations.evidence`).
    evidence_required = models.BooleanField("须上传佐证材料", default=False)

    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "三级指标"
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gte=0) & Q(points__lte=100),
                name="indicator_points_between_0_and_100",
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | (Q(score__gte=0) & Q(score__lte=F("points"))),
                name="indicator_score_within_points",
            ),
            models.CheckConstraint(
                condition=Q(review_score__isnull=True)
                | (Q(review_score__gte=0) & Q(review_score__lte=F("points"))),
                name="indicator_review_score_within_points",
            ),
            models.CheckConstraint(
                condition=Q(target_number__isnull=True) | Q(target_label=""),
                name="indicator_target_number_or_label",
            ),
            models.CheckConstraint(
                condition=Q(actual_number__isnull=True) | Q(actual_label=""),
                name="indicator_actual_number_or_label",
            ),
            models.CheckConstraint(
                condition=Q(target_comparator="") | Q(target_comparator__in=COMPARATORS),
                name="indicator_target_comparator_known",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.category.name

    anchor_prefix = "indicator"

    @property
    def label(self) -> str:
        return self.name or self.category.name

    def evaluation_lookup(self) -> dict:
        return {"indicator_groups__categories": self.category_id}

    @property
    def target(self) -> IndicatorValue:
        return IndicatorValue(
            self.target_comparator, self.target_number, self.target_unit, self.target_label
        )

    @target.setter
    def target(self, value: IndicatorValue | str) -> None:
        if isinstance(value, str):
            value = parse_value(value)
        self.target_comparator = value.comparator
        self.target_number = value.number
        self.target_unit = value.unit
        self.target_label = value.label

    @property
    def actual(self) -> IndicatorValue:
        return IndicatorValue("", self.actual_number, self.actual_unit, self.actual_label)

    @actual.setter
    def actual(self, value: IndicatorValue | str) -> None:
        if isinstance(value, str):
            value = parse_value(value, allow_comparator=False)
        self.actual_number = value.number
        self.actual_unit = value.unit
        self.actual_label = value.label

    @property
    def target_display(self) -> str:
        return format_value(self.target)

    @property
    def actual_display(self) -> str:
        return format_value(self.actual)


class IndicatorTemplate(CheckedText):
    """One line of a year's 指标库, the template every unit's evaluation of that year
    starts from: the 一级 with its 权重 (and the note of a 一级 without 三级), a 二级, and
    — for a 三级 row — its name, default 年度指标值 and 分值.

    Where the 二级 carry the points themselves (投入管理指标), a row gives the 二级's
    base share of the 一级 in percent instead of points: 25 % of a weight of 30 is
    7.50. The shares are the city's scheme, kept as data an administrator changes."""

    # One 指标库 per kind of form and year.
    form_kind = models.CharField(
        "表类型", max_length=20, choices=FormKind, default=FormKind.OVERALL
    )
    year = models.PositiveSmallIntegerField("年度", validators=[MinValueValidator(2000)])
    position = models.PositiveIntegerField("顺序", default=0)
    group_name = models.CharField("一级指标", max_length=100)
    group_weight = models.DecimalField(
        "权重",
        **SCORE_DIGITS,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(100)],
    )
    group_note = models.CharField("三级指标说明", max_length=300, blank=True)
    category_name = models.CharField("二级指标", max_length=100)
    name = models.CharField("三级指标", max_length=200, blank=True)
    base_share = models.DecimalField(
        "基础分占比（%）",
        **SCORE_DIGITS,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(100)],
        help_text="二级指标自身计分时填写：分值 = 权重 × 占比 ÷ 100",
    )
    points = models.DecimalField(
        "分值",
        **SCORE_DIGITS,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    default_target = models.CharField(
        "默认年度指标值", max_length=70, blank=True, validators=[validate_target]
    )
    evidence_required = models.BooleanField(
        "须上传佐证材料", default=False, help_text="勾选后，年末自评提交时该行须附佐证材料"
    )

    class Meta:
        verbose_name = verbose_name_plural = "指标库"
        ordering = ["form_kind", "year", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["form_kind", "year", "group_name", "category_name", "name"],
                name="one_template_line_per_indicator",
            ),
            models.CheckConstraint(
                condition=Q(group_weight__gt=0) & Q(group_weight__lte=100),
                name="template_weight_between_0_and_100",
            ),
            models.CheckConstraint(
                condition=Q(points__isnull=True, base_share__isnull=False)
                | Q(points__isnull=False, base_share__isnull=True),
                name="template_points_or_base_share",
            ),
        ]

    def __str__(self) -> str:
        kind = "" if self.form_kind == FormKind.OVERALL else self.get_form_kind_display()
        return " / ".join(
            part
            for part in (kind, str(self.year), self.group_name, self.category_name, self.name)
            if part
        )

    @property
    def scaled_points(self) -> Decimal:
        """The row's 分值: its own, or its base share of the 一级's weight."""
        if self.base_share is not None:
            return round_score(self.group_weight * self.base_share / 100)
        return self.points


class BudgetPoints(models.Model):
    """The 分值 of a year's project forms' 年度资金总额 (their budget execution),
    kept with the year's 项目支出 指标库: 10 by national default, other shares in
    some published tables. The indicators carry the rest of 100."""

    year = models.PositiveSmallIntegerField(
        "年度", unique=True, validators=[MinValueValidator(2000)]
    )
    points = models.DecimalField(
        "项目资金分值",
        **SCORE_DIGITS,
        default=DEFAULT_BUDGET_POINTS,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )

    class Meta:
        verbose_name = verbose_name_plural = "项目资金分值"
        ordering = ["year"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gte=0) & Q(points__lte=100),
                name="budget_points_between_0_and_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year}年度：{self.points}"

    @classmethod
    def of_year(cls, year: int) -> Decimal:
        row = cls.objects.filter(year=year).first()
        return row.points if row else DEFAULT_BUDGET_POINTS


class EvidenceRules(models.Model):
    """When a year's forms (of one kind) need evidence on a row beyond the rows their
    指标库 marks: where the 得分 falls short of the 分值, and on 满意度 rows. Kept with
    the year's 指标库; a year without a line asks only for the marked rows."""

    form_kind = models.CharField(
        "表类型", max_length=20, choices=FormKind, default=FormKind.OVERALL
    )
    year = models.PositiveSmallIntegerField("年度", validators=[MinValueValidator(2000)])
    below_points = models.BooleanField("得分低于分值的行须附佐证材料", default=True)
    satisfaction = models.BooleanField("满意度指标须附佐证材料", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "佐证材料要求"
        ordering = ["form_kind", "year"]
        constraints = [
            models.UniqueConstraint(
                fields=["form_kind", "year"], name="one_evidence_rule_per_kind_and_year"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_form_kind_display()} {self.year}年度"
