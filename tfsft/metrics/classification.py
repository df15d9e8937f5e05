"""Classification metrics from scikit-learn's reference implementations."""

import numpy as np
from sklearn import metrics as sk


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, label_names) -> dict:
  """Accuracy, precision, recall, F1, Matthews correlation, ROC AUC, log loss and the confusion
  matrix.

  Binary tasks report precision/recall/F1 of the second class (IMDb: `pos`); multi-class tasks
  report their macro average. ROC AUC is omitted when the labels hold a single class.
  """
  predictions = probabilities.argmax(axis=-1)
  classes = list(range(len(label_names)))
  binary = len(label_names) == 2
  average = "binary" if binary else "macro"
  results = {
      "examples": int(len(labels)),
      "accuracy": sk.accuracy_score(labels, predictions),
      "precision": sk.precision_score(labels, predictions, average=average, zero_division=0),
      "recall": sk.recall_score(labels, predictions, average=average, zero_division=0),
      "f1": sk.f1_score(labels, predictions, average=average, zero_division=0),
      "matthews_corrcoef": sk.matthews_corrcoef(labels, predictions),  # CoLA's GLUE metric
      "log_loss": sk.log_loss(labels, probabilities, labels=classes),
  }
  if len(np.unique(labels)) > 1:
    scores = probabilities[:, 1] if binary else probabilities
    results["roc_auc"] = sk.roc_auc_score(labels, scores, multi_class="ovr", labels=classes)
  results = {name: float(value) if name != "examples" else value for name, value in results.items()}
  results["confusion_matrix"] = sk.confusion_matrix(labels, predictions, labels=classes).tolist()
  return results
