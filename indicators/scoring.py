"""Suggested scores and grades (docs/domain.md §3). Pure functions, no database.

The unit enters its own 得分; the system only suggests one and says why in one
sentence. The unit may deviate (the sample deducted 1 of 2 points for 35 against
=33), and then explains itself in 偏差及原因分析.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from evaluations.numbers import HUNDRED, TWO_PLACES, ZERO

from .values import IndicatorValue

# An actual this far above its target is flagged: the target may have been too low.
FAR_ABOVE_TARGET = Decimal("1.2")

# Qualitative results: each label's band of the points, and the share suggested.
# 达成 takes the whole of its band's top (the sample gives full points); the
# others take the bottom of theirs, leaving any upward judgement to the unit.
QUALITATIVE_BANDS = {
    "达成指标": (Decimal("0.8"), Decimal("1"), Decimal("1")),
    "部分达成指标": (Decimal("0.6"), Decimal("0.8"), Decimal("0.6")),
    "未达成指标": (ZERO, Decimal("0.6"), ZERO),
}
QUALITATIVE_LABELS = tuple(QUALITATIVE_BANDS)


def round_score(value: Decimal) -> Decimal:
    """The one rounding of scores: half up, two decimals."""
    return value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Suggestion:
    score: Decimal | None
    reason: str
    far_above_target: bool = False


def _percent(share: Decimal) -> str:
    return f"{(share * HUNDRED).normalize():f}%"


def suggest_score(target: IndicatorValue, actual: IndicatorValue, points: Decimal) -> Suggestion:
    """A suggested 得分 between 0 and `points`, with the reason in one sentence."""
    points = Decimal(points)
    if points <= 0:
        return Suggestion(ZERO, "分值为0，得分为0。")
    if actual.is_empty:
        return Suggestion(None, "尚未填写全年完成值，无法建议得分。")
    if not target.is_quantitative:
        return _suggest_qualitative(actual, points)
    if not actual.is_quantitative:
        return Suggestion(None, "年度指标值为定量指标，全年完成值也应填写数值。")
    if target.unit != actual.unit:
        return Suggestion(
            None, f"全年完成值的单位“{actual.unit}”与年度指标值的单位“{target.unit}”不一致。"
        )
    if target.comparator in ("≤", "<"):
        return _suggest_at_most(target, actual, points)
    return _suggest_at_least(target, actual, points)


def _suggest_at_least(
    target: IndicatorValue, actual: IndicatorValue, points: Decimal
) -> Suggestion:
    goal, done = target.number, actual.number
    met = done > goal if target.comparator == ">" else done >= goal
    far_above = goal > 0 and done >= goal * FAR_ABOVE_TARGET
    if done == goal and target.comparator == ">":
        return Suggestion(round_score(points), _at_strict_limit(target, actual, "超过"))
    if met or goal == 0:
        reason = f"完成值{actual}达到目标{target}，建议得满分。"
        if far_above:
            reason = f"完成值{actual}远超目标{target}（≥120%），建议得满分，但目标值可能设定偏低。"
        return Suggestion(round_score(points), reason, far_above)
    score = round_score(min(points, max(ZERO, points * done / goal)))
    return Suggestion(
        score,
        f"完成值{actual}未达到目标{target}，按完成比例 {points}×{done}/{goal} 计得分。",
    )


def _suggest_at_most(target: IndicatorValue, actual: IndicatorValue, points: Decimal) -> Suggestion:
    limit, done = target.number, actual.number
    met = done < limit if target.comparator == "<" else done <= limit
    if met:
        return Suggestion(
            round_score(points), f"完成值{actual}控制在目标{target}以内，建议得满分。"
        )
    if done == limit:
        return Suggestion(round_score(points), _at_strict_limit(target, actual, "低于"))
    if limit == 0:
        return Suggestion(ZERO, f"完成值{actual}超出目标{target}，建议得0分。")
    # Full points at the limit, falling linearly to zero at twice the limit.
    score = round_score(min(points, max(ZERO, points * (2 * limit - done) / limit)))
    return Suggestion(
        score,
        f"完成值{actual}超出目标{target}，按超出比例递减计分（达到目标值两倍时为0分）。",
    )


def _at_strict_limit(target: IndicatorValue, actual: IndicatorValue, direction: str) -> str:
    """A strict target (`>`, `<`) met exactly: not met to the letter, yet both scoring
    rules (by proportion, and falling from the limit) give full points there. The
    sentence says both, so that it agrees with the score it comes with."""
    return (
        f"完成值{actual}恰好等于目标{target}的界限，未严格{direction}目标值；"
        f"按计分规则在界限处仍为满分，建议得满分，如按未达标扣分请在偏差及原因分析中说明。"
    )


def _suggest_qualitative(actual: IndicatorValue, points: Decimal) -> Suggestion:
    label = actual.label
    if label not in QUALITATIVE_BANDS:
        return Suggestion(
            None, f"定性指标的完成值请填写“{'”“'.join(QUALITATIVE_LABELS)}”之一，由单位据实打分。"
        )
    low, high, suggested = QUALITATIVE_BANDS[label]
    return Suggestion(
        round_score(points * suggested),
        f"{label}：得分应在分值的{_percent(low)}–{_percent(high)}之间，建议{_percent(suggested)}。",
    )


# The grade of a total score: each grade with the lowest total it takes, best first.
# The overview's SQL reads the same bands.
GRADE_BANDS = (("优", Decimal("90")), ("良", Decimal("80")), ("中", Decimal("60")), ("差", ZERO))
GRADES = tuple(name for name, _ in GRADE_BANDS)


def grade(total_score: Decimal) -> str:
    """优 ≥ 90, 良 80–<90, 中 60–<80, 差 < 60."""
    for name, lowest in GRADE_BANDS:
        if total_score >= lowest:
            return name
    return GRADE_BANDS[-1][0]
