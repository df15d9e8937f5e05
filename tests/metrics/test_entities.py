"""Entity scores from seqeval on sentences whose right answer is counted by hand."""

import pytest

from tfsft.metrics.entities import entity_metrics


def test_entities_count_only_with_type_and_both_boundaries_right():
  true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
  predicted = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O"]]  # the person is cut short
  results = entity_metrics(true, predicted)
  assert results["entity_precision"] == pytest.approx(2 / 3)
  assert results["entity_recall"] == pytest.approx(2 / 3)
  assert results["entity_f1/PER"] == 0.0 and results["entity_f1/LOC"] == 1.0
  assert results["entities"] == 3 and results["entities/PER"] == 1
  assert results["word_accuracy"] == pytest.approx(5 / 6)
  assert results["entity_word_accuracy"] == pytest.approx(3 / 4)


def test_plain_type_tags_are_scored_as_entities():
  # IO tags (no B-/I- prefix): seqeval alone would cut "PER" to "ER".
  results = entity_metrics([["PER", "PER", "O", "LOC"]], [["PER", "PER", "O", "O"]])
  assert set(key for key in results if key.startswith("entity_f1/")) == {
      "entity_f1/PER", "entity_f1/LOC"}
  assert results["entity_precision"] == 1.0 and results["entity_recall"] == 0.5
