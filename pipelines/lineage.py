"""Print where a pipeline's artifacts came from: for the newest pushed model (or --artifact_id),
the executions and artifacts that produced it, back to the data ExampleGen read.

  python -m pipelines.lineage --pipeline_root=runs/imdb_pipeline
"""

import os

from absl import app, flags

from pipelines import artifacts, metadata
from tfsft.errors import UserError, exit_on_user_error

flags.DEFINE_string("pipeline_root", None, "The pipeline root of `pipelines.run`.")
flags.DEFINE_integer("artifact_id", None, "An artifact's id; default: the newest pushed model.")
FLAGS = flags.FLAGS


def lineage_lines(store: metadata.MetadataStore, artifact_id: int):
  """An indented tree: each artifact, the execution that produced it, that execution's inputs."""
  lines, seen = [], set()

  def visit(artifact, depth, key):
    pad = "  " * depth
    properties = {name: value for name, value in artifact.properties.items()
                  if name in _SHOWN and value not in (None, [], {})}
    lines.append(f"{pad}{key + ': ' if key else ''}{artifact.type_name} #{artifact.id} "
                 f"{artifact.uri}" + (f" {properties}" if properties else ""))
    if artifact.id in seen:
      lines[-1] += " (above)"
      return
    seen.add(artifact.id)
    producer = store.producer(artifact.id)
    if producer is None:
      return
    execution = store.execution(producer)
    lines.append(f"{pad}  <- {execution['component']} execution #{execution['id']} "
                 f"({execution['state']})")
    for input_key, source in store.artifacts_of(producer, metadata.INPUT).items():
      visit(source, depth + 2, input_key)

  target = store.artifact(artifact_id)
  if target is None:
    raise UserError(f"no artifact #{artifact_id} in this pipeline root")
  visit(target, 0, "")
  return lines


_SHOWN = ("source", "split_names", "label_names", "step", "validation", "saved_model", "overall",
          "blessed", "reasons", "problems", "pushed", "pushed_destination", "anomalies")


@exit_on_user_error
def main(argv):
  del argv
  path = os.path.join(FLAGS.pipeline_root, metadata.FILE_NAME)
  if not os.path.isfile(path):
    raise UserError(f"--pipeline_root={FLAGS.pipeline_root} has no {metadata.FILE_NAME}: pass the "
                    "folder a pipelines.run used")
  with metadata.open_store(FLAGS.pipeline_root) as store:
    artifact_id = FLAGS.artifact_id
    if artifact_id is None:
      pushed = [artifact for artifact in store.artifacts(artifacts.PUSHED_MODEL)
                if artifact.properties.get("pushed")]
      if not pushed:
        raise UserError("no model has been pushed from this pipeline root: pass --artifact_id")
      artifact_id = pushed[-1].id
    print("\n".join(lineage_lines(store, artifact_id)))


if __name__ == "__main__":
  flags.mark_flag_as_required("pipeline_root")
  app.run(main)
