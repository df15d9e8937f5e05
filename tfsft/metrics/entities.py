"""Entity-level precision, recall and F1 with seqeval (the CoNLL `conlleval` reference in Python)."""

from typing import List, Sequence

import numpy as np
from seqeval import metrics as seqeval

from tfsft.data.tag_scheme import OUTSIDE, with_prefix


def entity_metrics(true_tags: Sequence[List[str]], predicted_tags: Sequence[List[str]]) -> dict:
  """Micro-averaged entity scores over all types, the same per type ("entity_f1/PER", ...), and
  word accuracy. An entity counts only when its type and both boundaries are right."""
  true_tags = [[with_prefix(tag) for tag in sentence] for sentence in true_tags]
  predicted_tags = [[with_prefix(tag) for tag in sentence] for sentence in predicted_tags]
  report = seqeval.classification_report(true_tags, predicted_tags, output_dict=True,
                                         zero_division=0)
  words = np.concatenate([np.asarray(s, dtype=object) for s in true_tags] or [np.zeros(0)])
  guesses = np.concatenate([np.asarray(s, dtype=object) for s in predicted_tags] or [np.zeros(0)])
  micro = report.pop("micro avg")
  results = {
      "examples": len(true_tags),
      "entity_precision": float(micro["precision"]),
      "entity_recall": float(micro["recall"]),
      "entity_f1": float(micro["f1-score"]),
      "entities": int(micro["support"]),
      "word_accuracy": float(np.mean(words == guesses)) if len(words) else 0.0,
      # Entity words only: `O` is most words, so word accuracy alone flatters a weak model.
      "entity_word_accuracy": float(np.mean((words == guesses)[words != OUTSIDE]))
                              if np.any(words != OUTSIDE) else 0.0,
  }
  for entity_type, scores in report.items():
    if entity_type.endswith(" avg"):
      continue
    results[f"entity_f1/{entity_type}"] = float(scores["f1-score"])
    results[f"entity_precision/{entity_type}"] = float(scores["precision"])
    results[f"entity_recall/{entity_type}"] = float(scores["recall"])
    results[f"entities/{entity_type}"] = int(scores["support"])
  return results
