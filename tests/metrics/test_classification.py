import numpy as np
import pytest

from tfsft.metrics.classification import classification_metrics


def test_binary_metrics_on_a_hand_checked_example():
  labels = np.array([0, 0, 1, 1, 1])
  probabilities = np.array([[.9, .1], [.4, .6], [.2, .8], [.3, .7], [.6, .4]])
  results = classification_metrics(labels, probabilities, ("neg", "pos"))
  # predictions 0 1 1 1 0: tp=2 fp=1 fn=1 tn=1
  assert results["accuracy"] == pytest.approx(0.6)
  assert results["precision"] == pytest.approx(2 / 3)
  assert results["recall"] == pytest.approx(2 / 3)
  assert results["f1"] == pytest.approx(2 / 3)
  assert results["confusion_matrix"] == [[1, 1], [1, 2]]
  assert results["roc_auc"] == pytest.approx(5 / 6)  # 5 of 6 (pos, neg) pairs ranked right
  assert results["examples"] == 5


def test_single_class_labels_skip_roc_auc():
  results = classification_metrics(np.array([1, 1]), np.array([[.2, .8], [.6, .4]]), ("neg", "pos"))
  assert "roc_auc" not in results and results["accuracy"] == 0.5
