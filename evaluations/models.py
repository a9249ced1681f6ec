from decimal import ROUND_DOWN, Decimal

import nh3
from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Prefetch, Q

# 年初设定目标 / 全年完成情况 keep paragraphs, line breaks, bold and lists — nothing else.
RICH_TEXT_TAGS = {"p", "br", "strong", "b", "ul", "ol", "li"}
AMOUNT_DIGITS = {"max_digits": 14, "decimal_places": 2}  # up to 12 integer digits, to the cent
HUNDRED = Decimal("100")
TWO_PLACES = Decimal("0.01")


def clean_rich_text(html: str) -> str:
    return nh3.clean(html or "", tags=RICH_TEXT_TAGS, attributes={}, link_rel=None).strip()


def truncate_percent(part: Decimal, whole: Decimal) -> Decimal:
    """执行率 as the official table prints it: truncated, not rounded (99.929… → 99.92),
    and 0.00 where nothing was budgeted."""
    if not whole:
        return Decimal("0.00")
    return (part * HUNDRED / whole).quantize(TWO_PLACES, rounding=ROUND_DOWN)


class District(models.Model):
    code = models.CharField("区划代码", max_length=32, unique=True)
    name = models.CharField("区名称", max_length=100, unique=True)
    reviewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="reviewed_districts",
        verbose_name="审核人",
    )

    class Meta:
        verbose_name = verbose_name_plural = "区"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Unit(models.Model):
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


class EvaluationQuerySet(models.QuerySet):
    def for_year(self, year: int) -> "EvaluationQuerySet":
        return self.filter(year=year)

    def with_table(self) -> "EvaluationQuerySet":
        """Everything the official table draws, in a fixed number of queries."""
        from indicators.models import IndicatorCategory, IndicatorGroup

        categories = IndicatorCategory.objects.order_by("position", "id").prefetch_related(
            "indicators"
        )
        groups = IndicatorGroup.objects.order_by("position", "id").prefetch_related(
            Prefetch("categories", queryset=categories)
        )
        return self.select_related("unit", "unit__district").prefetch_related(
            "budget_lines", Prefetch("indicator_groups", queryset=groups)
        )


class Evaluation(models.Model):
    """One 部门（单位）整体支出绩效自评表: one per unit and year."""

    class Status(models.TextChoices):
        DRAFT = "draft", "草稿"

    unit = models.ForeignKey(Unit, models.PROTECT, related_name="evaluations", verbose_name="单位")
    year = models.PositiveSmallIntegerField("年度", validators=[MinValueValidator(2000)])
    status = models.CharField("状态", max_length=20, choices=Status, default=Status.DRAFT)
    subordinate_unit_count = models.PositiveIntegerField(
        "下属单位个数", blank=True, help_text="留空则按该单位的下属单位数自动填写"
    )
    target_text = models.TextField("年初设定目标", blank=True)
    result_text = models.TextField("全年完成情况", blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = EvaluationQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "绩效自评表"
        ordering = ["-year", "unit__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["unit", "year"], name="one_evaluation_per_unit_and_year"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.unit.name}（{self.year}年度）"

    def save(self, *args, **kwargs) -> None:
        self.target_text = clean_rich_text(self.target_text)
        self.result_text = clean_rich_text(self.result_text)
        if self.subordinate_unit_count is None:
            self.subordinate_unit_count = self.unit.children.count()
        super().save(*args, **kwargs)


class BudgetLine(models.Model):
    """One line of 整体支出规模（元）. Sources (财政拨款 + 其他资金) and structure
    (基本支出 + 项目支出) are two views of the same money and must agree."""

    class Kind(models.TextChoices):
        FISCAL = "fiscal", "财政拨款"
        OTHER = "other", "其他资金"
        BASIC = "basic", "基本支出"
        PROJECT = "project", "项目支出"

    SOURCES = (Kind.FISCAL, Kind.OTHER)
    STRUCTURE = (Kind.BASIC, Kind.PROJECT)
    ORDER = (Kind.FISCAL, Kind.OTHER, Kind.BASIC, Kind.PROJECT)

    evaluation = models.ForeignKey(
        Evaluation, models.CASCADE, related_name="budget_lines", verbose_name="自评表"
    )
    kind = models.CharField("项目", max_length=20, choices=Kind)
    budget_amount = models.DecimalField(
        "全年预算数", **AMOUNT_DIGITS, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )
    executed_amount = models.DecimalField(
        "全年执行数", **AMOUNT_DIGITS, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )

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
        ]

    def __str__(self) -> str:
        return self.get_kind_display()

    @property
    def execution_rate(self) -> Decimal:
        return truncate_percent(self.executed_amount, self.budget_amount)

    @property
    def anchor(self) -> str:
        return f"budget-{self.kind}"


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


class ExportJob(models.Model):
    """A bulk export: the PDFs of a year's evaluations (optionally of one 主管部门 or one
    stage) and the year's overview, in one zip. Its items are rendered one task each."""

    class Status(models.TextChoices):
        RUNNING = "running", "进行中"
        ASSEMBLING = "assembling", "打包中"
        DONE = "done", "已完成"
        FAILED = "failed", "有失败项"

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

    class Meta:
        verbose_name = verbose_name_plural = "批量导出"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["running", "assembling", "done", "failed"]),
                name="export_job_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year}年度批量导出 #{self.pk}"


class ExportItem(models.Model):
    """One evaluation's PDF within an export job."""

    class Status(models.TextChoices):
        PENDING = "pending", "等待中"
        RUNNING = "running", "生成中"
        DONE = "done", "已完成"
        FAILED = "failed", "失败"

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
                condition=Q(status__in=["pending", "running", "done", "failed"]),
                name="export_item_status_known",
            ),
        ]
        indexes = [models.Index(fields=["status", "started_at"], name="export_item_status_started")]

    def __str__(self) -> str:
        return f"{self.job} · {self.evaluation_id}"
