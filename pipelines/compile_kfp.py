"""Compile a pipeline to a Kubeflow Pipelines v2 YAML: one container step per component, in the
pipeline's order, each running `python -m pipelines.run --components=<its id>` in an image with
tfsft installed. The steps share the metadata store and artifacts through the pipeline root, which
must be a file system every step mounts (a PersistentVolume, or a bucket mounted with gcsfuse).

  python -m pipelines.compile_kfp --pipeline=imdb_bert --output=pipeline.yaml \
      --image=<registry>/tfsft:latest [the pipelines.run / tfsft.train flags the steps get]

`kfp` compiles without a cluster; submit the YAML with the Kubeflow UI or `kfp.Client`.
"""

import sys

from absl import app, flags

from pipelines import run as pipeline_run
from tfsft.errors import UserError, exit_on_user_error

flags.DEFINE_string("output", None, "Where to write the pipeline YAML.")
flags.DEFINE_string("image", "tfsft:latest", "The container image each step runs (tfsft installed).")
FLAGS = flags.FLAGS

# Flags the steps do not take as given: this module's own, and those each step sets itself.
_NOT_PASSED_ON = ("output", "image", "pipeline", "pipeline_root", "serving_dir", "components")


def compile_pipeline(pipeline, step_flags, image: str, output: str):
  """Writes the YAML; `step_flags` are the command-line flags every step passes on."""
  from kfp import compiler, dsl

  def step_component(component_id: str):
    def step(pipeline_root: str, serving_dir: str):
      return dsl.ContainerSpec(
          image=image, command=["python", "-m", "pipelines.run"],
          args=[f"--pipeline={pipeline.name}", "--pipeline_root", pipeline_root,
                "--serving_dir", serving_dir, f"--components={component_id}", *step_flags])
    # kfp names a step's component after its function.
    step.__name__ = component_id.lower()
    step.__annotations__ = {"pipeline_root": str, "serving_dir": str}
    return dsl.container_component(step)

  @dsl.pipeline(name=pipeline.name.replace("_", "-"),
                description=f"tfsft {pipeline.name}: " + " -> ".join(
                    component.id for component in pipeline.components))
  def kfp_pipeline(pipeline_root: str, serving_dir: str):
    previous = None
    for component in pipeline.components:
      task = step_component(component.id)(pipeline_root=pipeline_root, serving_dir=serving_dir)
      task.set_display_name(component.id)
      # pipelines.run caches by artifact and code; Kubeflow's cache would only see two paths.
      task.set_caching_options(False)
      # In order, as the local runner runs them: ExampleValidator must stop the run before the
      # Trainer even though the Trainer does not read its output.
      if previous is not None:
        task.after(previous)
      previous = task

  compiler.Compiler().compile(kfp_pipeline, output)


def _step_flags(command_line):
  """The command-line flags every step passes on."""
  dropped = {f"--{name}" for name in _NOT_PASSED_ON} | {f"--no{name}" for name in _NOT_PASSED_ON}
  return [arg for arg in command_line[1:] if arg.split("=")[0] not in dropped]


@exit_on_user_error
def main(argv):
  del argv  # absl has taken the flags out; the steps get them as given (sys.argv)
  if not FLAGS.output:
    raise UserError("--output is required: the YAML file to write")
  pipeline = pipeline_run.pipeline_from_flags()
  compile_pipeline(pipeline, _step_flags(sys.argv), FLAGS.image, FLAGS.output)
  print(f"Kubeflow pipeline {pipeline.name} ({len(pipeline.components)} steps): {FLAGS.output}")


if __name__ == "__main__":
  flags.mark_flag_as_required("pipeline")
  app.run(main)
