"""Exact match and F1 of answers against their references, in percent, with the official SQuAD
scripts that tf-models-official ships (v1.1; v2.0 also scores abstaining on unanswerable
questions)."""

from typing import Dict, Sequence


def squad_scores(predictions: Sequence[str], references: Sequence[Sequence[str]],
                 version_2: bool) -> Dict[str, float]:
  """`references[i]` are question i's reference answers (none: unanswerable, SQuAD 2.0)."""
  from official.nlp.tools import squad_evaluate_v1_1, squad_evaluate_v2_0
  questions = [{"id": str(i), "answers": [{"text": text} for text in answers],
                "is_impossible": not answers} for i, answers in enumerate(references)]
  dataset = [{"paragraphs": [{"qas": questions}]}]
  by_id = {str(i): prediction for i, prediction in enumerate(predictions)}
  if version_2:
    scores = squad_evaluate_v2_0.evaluate(dataset, by_id)
    results = {"exact_match": scores["exact"], "f1": scores["f1"]}
    for part in ("HasAns", "NoAns"):
      if f"{part}_exact" in scores:
        results[f"{part}_exact_match"] = scores[f"{part}_exact"]
        results[f"{part}_f1"] = scores[f"{part}_f1"]
  else:  # the v1.1 script gives fractions; SQuAD results are quoted in percent
    scores = squad_evaluate_v1_1.evaluate(dataset, by_id)
    results = {"exact_match": 100 * scores["exact_match"], "f1": 100 * scores["final_f1"]}
  return {"examples": len(questions), **{k: float(v) for k, v in results.items()}}
