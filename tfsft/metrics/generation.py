"""Generated text against references: exact match, corpus BLEU (sacrebleu, the WMT standard) and
ROUGE-L F1 (Google's rouge-score, the implementation Hugging Face `evaluate` wraps)."""

from typing import Dict, Sequence

import sacrebleu
from rouge_score import rouge_scorer


def generation_scores(predictions: Sequence[str], references: Sequence[str]) -> Dict[str, float]:
  """Percentages, like sacrebleu's BLEU; exact match ignores surrounding white space."""
  if not predictions:
    return {}
  exact = sum(p.strip() == r.strip() for p, r in zip(predictions, references))
  scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
  rouge = [scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references)]
  bleu = sacrebleu.metrics.BLEU()
  return {"exact_match": 100.0 * exact / len(predictions),
          "bleu": float(bleu.corpus_score(list(predictions), [list(references)]).score),
          "rouge_l": 100.0 * sum(rouge) / len(rouge)}
