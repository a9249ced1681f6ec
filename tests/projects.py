"""A 项目支出绩效自评表 for the tests: a project of the sample's unit with the example
figures of domain.md §6 (年度资金总额 1,000,000.00 budgeted, 861,800.00 spent:
执行率 86.18, execution score 8.62 of 10) and indicators of 产出 50, 效益 30, 满意度 10."""

from decimal import Decimal

from evaluations.demo import fill_evaluation
from evaluations.models import BudgetLine, Evaluation, Project, Unit

PROJECT_NAME = "消防通道乱停车预警智能分析项目"
PROJECT_CODE = "PJ-2023-001"
# 年初预算数, 全年预算数, 全年执行数 of each line.
BUDGET = {
    BudgetLine.Kind.FISCAL: ("800000.00", "900000.00", "780000.00"),
    BudgetLine.Kind.CARRYOVER: ("0.00", "0.00", "0.00"),
    BudgetLine.Kind.OTHER: ("100000.00", "100000.00", "81800.00"),
}


def project_data() -> dict:
    def row(name, target, actual, points, score, reason=""):
        return {
            "name": name,
            "target": target,
            "actual": actual,
            "points": points,
            "score": score,
            "deviation_reason": reason,
        }

    return {
        "target_text": "<p>完成 20 路视频通道接入，试点 4 个点位的消防通道占用预警。</p>",
        "result_text": "<p>20 路视频通道已接入，4 个试点点位运行正常。</p>",
        "budget": {},
        "groups": [
            {
                "name": "产出指标",
                "weight": "50",
                "categories": [
                    {
                        "name": "数量指标",
                        "indicators": [
                            row("视频通道接入数", "≥20(路)", "20(路)", "15.00", "15.00"),
                            row("试点点位数", "=4(个)", "4(个)", "10.00", "10.00"),
                        ],
                    },
                    {
                        "name": "质量指标",
                        "indicators": [
                            row("预警准确率", "≥90.00(%)", "92.50(%)", "10.00", "10.00")
                        ],
                    },
                    {
                        "name": "时效指标",
                        "indicators": [row("项目完成及时性", "及时", "及时", "10.00", "10.00")],
                    },
                    {
                        "name": "成本指标",
                        "indicators": [
                            row("项目成本控制率", "≤100.00(%)", "86.18(%)", "5.00", "5.00")
                        ],
                    },
                ],
            },
            {
                "name": "效益指标",
                "weight": "30",
                "categories": [
                    {
                        "name": "社会效益指标",
                        "indicators": [
                            row(
                                "消防通道占用处置率",
                                "≥95.00(%)",
                                "88.00(%)",
                                "15.00",
                                "12.00",
                                "夜间识别率偏低，已调整摄像头角度。",
                            ),
                            row("居民安全感提升", "有效", "有效", "15.00", "15.00"),
                        ],
                    }
                ],
            },
            {
                "name": "满意度指标",
                "weight": "10",
                "categories": [
                    {
                        "name": "服务对象满意度指标",
                        "indicators": [
                            row("居民满意度", "≥90.00(%)", "91.00(%)", "10.00", "10.00")
                        ],
                    }
                ],
            },
        ],
    }


def make_project_evaluation(
    unit: Unit,
    *,
    code: str = PROJECT_CODE,
    name: str = PROJECT_NAME,
    year: int = 2023,
    results: bool = True,
    data: dict | None = None,
) -> Evaluation:
    """The project form in its results phase (a draft), or of its targets only."""
    data = data or project_data()
    project = Project.objects.create(unit=unit, code=code, name=name, first_year=year)
    evaluation = Evaluation.objects.create(
        kind=Evaluation.Kind.PROJECT,
        project=project,
        unit=unit,
        year=year,
        budget_points=Decimal("10.00"),
        target_text=data["target_text"],
        result_text=data["result_text"],
    )
    if not results:
        for group in data["groups"]:
            for category in group["categories"]:
                for row in category["indicators"]:
                    row.update(actual="", score=None, deviation_reason="")
    fill_evaluation(evaluation, data)
    for kind, (initial, budget, executed) in BUDGET.items():
        # Written past the phase rules, as `conftest.open_results` moves the phase.
        BudgetLine.objects.filter(evaluation=evaluation, kind=kind).update(
            initial_budget_amount=Decimal(initial),
            budget_amount=Decimal(budget) if results else Decimal("0.00"),
            executed_amount=Decimal(executed) if results else Decimal("0.00"),
        )
    if results:
        Evaluation.objects.filter(pk=evaluation.pk).update(phase=Evaluation.Phase.RESULTS)
    return Evaluation.objects.with_table().get(pk=evaluation.pk)
