"""InfraValidator: will TF Serving serve the candidate? In a fresh process, the SavedModel is loaded
with the TF1 session loader TF Serving uses, its ops are audited (core TensorFlow and
tensorflow-text only, no Python callbacks, no XLA) and every signature answers requests made of
real eval examples (tfsft/serving/servability.py). Where a `tensorflow_model_server` binary is on
PATH it is also started on loopback and sent real REST predict requests.

Output: `infra_blessing`, an empty INFRA_BLESSED or INFRA_NOT_BLESSED file and report.json.
"""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

from absl import logging

from pipelines import artifacts, example_kinds
from pipelines.component import Component
from pipelines.components.evaluator import read_rows

SERVER_BINARY = "tensorflow_model_server"
_SERVER_START_SECONDS = 120


class InfraValidator(Component):
  INPUTS = {"model": artifacts.MODEL, "examples": artifacts.EXAMPLES}
  OUTPUTS = {"infra_blessing": artifacts.INFRA_BLESSING}
  PARAMETERS = {"requests": 8, "split": "eval"}

  def execute(self, inputs, outputs, context):
    from tfsft.serving.servability import check_servable
    saved_model = inputs["model"].properties["saved_model"]
    properties = inputs["examples"].properties
    kind = example_kinds.of(properties)
    rows = read_rows(inputs["examples"], self.parameters["split"])[:self.parameters["requests"]]
    requests = kind.requests(rows, properties)
    report = {"servability": check_servable(saved_model, requests)}
    problems = list(report["servability"].get("problems", []))
    if shutil.which(SERVER_BINARY):
      names = kind.serving_inputs(properties)
      instances = [{name: requests[name][i] for name in names} for i in range(len(rows))]
      report["model_server"] = _model_server_check(saved_model, instances)
      problems += report["model_server"].get("problems", [])
    else:
      report["model_server"] = f"skipped: no {SERVER_BINARY} on PATH"
      logging.info("InfraValidator: no %s on PATH; the loader check stands in for it.",
                   SERVER_BINARY)
    blessing = outputs["infra_blessing"]
    with open(os.path.join(blessing.uri, "report.json"), "w") as handle:
      json.dump(report, handle, indent=2, default=str)
    open(os.path.join(blessing.uri, "INFRA_NOT_BLESSED" if problems else "INFRA_BLESSED"),
         "w").close()
    blessing.properties.update(blessed=int(not problems), problems=problems)


def _free_port() -> int:
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    return probe.getsockname()[1]


def _model_server_check(saved_model, instances) -> dict:
  """Starts the server on loopback over the candidate's version folder, waits (bounded) for it to
  load the model, sends one REST predict request and stops it."""
  rest, grpc = _free_port(), _free_port()
  base = os.path.dirname(os.path.abspath(saved_model))
  server = subprocess.Popen(
      [SERVER_BINARY, f"--port={grpc}", f"--rest_api_port={rest}", "--rest_api_num_threads=2",
       "--model_name=candidate", f"--model_base_path={base}"],
      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  url = f"http://127.0.0.1:{rest}/v1/models/candidate"
  try:
    deadline = time.time() + _SERVER_START_SECONDS
    while time.time() < deadline and server.poll() is None:
      try:
        with urllib.request.urlopen(url, timeout=5) as response:
          states = [version["state"] for version in json.load(response)["model_version_status"]]
        if "AVAILABLE" in states:
          break
      except (urllib.error.URLError, ConnectionError, KeyError, ValueError):
        pass
      time.sleep(1)
    else:
      return {"problems": [f"{SERVER_BINARY} did not load the model within "
                           f"{_SERVER_START_SECONDS} s"]}
    body = json.dumps({"instances": instances})
    request = urllib.request.Request(f"{url}:predict", body.encode(),
                                     {"Content-Type": "application/json"})
    try:
      with urllib.request.urlopen(request, timeout=60) as response:
        predictions = json.load(response)["predictions"]
    except (urllib.error.URLError, KeyError, ValueError) as error:
      return {"problems": [f"{SERVER_BINARY} REST predict failed: {error}"]}
    return {"problems": [] if len(predictions) == len(instances) else
            [f"{SERVER_BINARY} answered {len(predictions)} of {len(instances)} requests"],
            "predictions": len(predictions)}
  finally:
    server.terminate()
    try:
      server.wait(timeout=30)
    except subprocess.TimeoutExpired:
      server.kill()
