"""TF Serving warmup requests: assets.extra/tf_serving_warmup_requests, a TFRecord of PredictionLog.

TF Serving replays them when it loads a version, so the first real request does not pay for graph
initialisation; it reads at most 1000 records.
"""

import os

import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

MAX_WARMUP_RECORDS = 1000
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def write_warmup_requests(saved_model_dir: str, model_name: str, inputs: dict, batch_sizes=(1, 4)):
  """One serving_default request per batch size, made of real examples: `inputs` maps each
  signature input name to a list of strings."""
  path = os.path.join(saved_model_dir, WARMUP_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tf.io.TFRecordWriter(path) as writer:
    for batch_size in batch_sizes[:MAX_WARMUP_RECORDS]:
      request = predict_pb2.PredictRequest(
          model_spec=model_pb2.ModelSpec(name=model_name, signature_name="serving_default"))
      for name, values in inputs.items():
        batch = [values[i % len(values)] for i in range(batch_size)]
        request.inputs[name].CopyFrom(tf.make_tensor_proto(batch, dtype=tf.string))
      log = prediction_log_pb2.PredictionLog(
          predict_log=prediction_log_pb2.PredictLog(request=request))
      writer.write(log.SerializeToString())
  return path


def read_warmup_requests(saved_model_dir: str):
  """The PredictionLog records of a SavedModel's warmup file."""
  path = os.path.join(saved_model_dir, WARMUP_FILE)
  logs = []
  for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
    logs.append(prediction_log_pb2.PredictionLog.FromString(record))
  return logs
