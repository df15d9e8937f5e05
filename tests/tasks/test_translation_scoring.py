"""Translation scoring: BLEU against every reference of a source, and masked token accuracy."""

import numpy as np
import pytest

from tfsft.metrics.token_accuracy import MaskedTokenAccuracy
from tfsft.tasks.translation import multi_reference_bleu


def test_any_reference_of_a_source_counts():
  sources = ["Run!", "Run!", "I am tired."]
  references = ["Cours !", "Courez !", "Je suis fatigué."]
  # The model says the same thing for both "Run!" pairs: "Courez !" matches the second reference.
  score = multi_reference_bleu(sources, ["courez !", "courez !", "je suis fatigué."], references)
  assert score.score == pytest.approx(100.0)
  assert "nrefs:var" in score.signature and "case:lc" in score.signature
  wrong = multi_reference_bleu(sources, ["bonjour", "bonjour", "merci beaucoup"], references)
  assert wrong.score < 1


def test_token_accuracy_ignores_padding():
  metric = MaskedTokenAccuracy(ignored_label=0)
  targets = np.array([[4, 5, 0, 0]])
  logits = np.zeros([1, 4, 6], np.float32)
  logits[0, 0, 4] = logits[0, 1, 1] = 1.0  # first token right, second wrong, padding "wrong"
  metric.update_state(targets, logits)
  assert float(metric.result()) == pytest.approx(0.5)


def test_token_accuracy_ignores_unlabeled_word_pieces():
  metric = MaskedTokenAccuracy(ignored_label=-1)  # token classification: -1 is "no label here"
  targets = np.array([[-1, 2, -1, 0, -1]])
  logits = np.zeros([1, 5, 3], np.float32)
  logits[0, 1, 2] = logits[0, 3, 1] = 1.0  # the first labeled piece right, the second wrong
  metric.update_state(targets, logits)
  assert float(metric.result()) == pytest.approx(0.5)
