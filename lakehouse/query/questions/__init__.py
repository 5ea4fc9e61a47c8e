"""The five questions officers asked first. Each module: one documented query, a table, a chart."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import SparkSession

from peacewatch.lakehouse.query.questions import hotspots, hours, maintenance, weekend, words
from peacewatch.lakehouse.query.questions.answer import AnalysisParams, Answer
from peacewatch.platform.errors import InvalidArgument

__all__ = ["QUESTIONS", "AnalysisParams", "Answer", "answer_questions"]

QuestionFn = Callable[..., Answer]

QUESTIONS: dict[str, tuple[str, QuestionFn]] = {
    "a": (weekend.QUESTION, weekend.answer),
    "b": (hours.QUESTION, hours.answer),
    "c": (hotspots.QUESTION, hotspots.answer),
    "d": (words.QUESTION, words.answer),
    "e": (maintenance.QUESTION, maintenance.answer),
}


def answer_questions(
    spark: SparkSession, *, database: str, keys: str = "abcde", params: AnalysisParams | None = None
) -> list[Answer]:
    unknown = sorted(set(keys) - set(QUESTIONS))
    if unknown:
        raise InvalidArgument(f"unknown question {', '.join(unknown)}: choose from {', '.join(QUESTIONS)}")
    params = params or AnalysisParams()
    return [QUESTIONS[k][1](spark, database=database, params=params) for k in sorted(set(keys))]
