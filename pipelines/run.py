"""Run a tfsft pipeline on this machine (components in order, cached, resumable).

  python -m pipelines.run --pipeline=imdb_bert --pipeline_root=runs/imdb_pipeline \
      --serving_dir=serving/imdb --data_path=aclImdb_v1.tar.gz \
      --init_checkpoint=../shared/models/all-MiniLM-L6-v2 --max_train_examples=1000
      [any tfsft.train flag] [--beam_pipeline_args=--runner=DirectRunner,--direct_num_workers=2,...]

Every tfsft.train flag configures the Trainer (and ExampleGen's reading), except --task (the
pipeline's), --model_dir and --export_dir (the artifacts' folders). A rerun reuses every component
whose inputs, settings and code are unchanged.

On a TF_CONFIG cluster (MultiWorkerMirroredStrategy) the Trainer is a step of its own:
  python -m pipelines.run ... --components=ExampleGen,StatisticsGen,SchemaGen,ExampleValidator
  TF_CONFIG=<each worker's> python -m pipelines.run ... --components=Trainer \
      --strategy=multi_worker_mirrored        # on every worker, the same flags
  python -m pipelines.run ... --components=Evaluator,InfraValidator,Pusher
"""

from absl import app, flags, logging

from pipelines import definitions, runner
from tfsft import distribute, train
from tfsft.errors import UserError, exit_on_user_error

flags.DEFINE_string("pipeline", None, f"One of: {', '.join(definitions.names())}.")
flags.DEFINE_string("pipeline_root", None, "Where artifacts and the metadata store live.")
flags.DEFINE_string("serving_dir", None, "TF Serving's model base path: the Pusher adds numeric "
                    "versions here, and the Evaluator compares with the newest one.")
flags.DEFINE_list("beam_pipeline_args", [], "Apache Beam options for ExampleGen and StatisticsGen, "
                  "e.g. --runner=DirectRunner,--direct_running_mode=multi_processing,"
                  "--direct_num_workers=2 (or FlinkRunner, SparkRunner, DataflowRunner options).")
flags.DEFINE_list("components", None, "Execute only these components (one Kubeflow step); the "
                  "others' outputs come from their last run in --pipeline_root.")
flags.DEFINE_string("schema", None, "A curated schema.pbtxt the data must satisfy, instead of one "
                    "inferred from the statistics (ImportSchemaGen).")
flags.DEFINE_string("split_feature", None, "Re-split train and eval by a seeded hash of this "
                    "feature (e.g. text: pairs sharing a premise stay on one side); default: the "
                    "task's own splits, as tfsft.train makes them.")
flags.DEFINE_list("eval_thresholds", [], "metric:value pairs a pushed model must reach, e.g. "
                  "accuracy:0.8 or bleu:20 (log_loss, reference_perplexity: at most the value).")
flags.DEFINE_list("eval_min_change", None, "metric:value pairs: the least improvement on the "
                  "served model (the newest version in --serving_dir); empty: no comparison; "
                  "default: accuracy:0 for classifiers, reference_perplexity:0 for generators.")
FLAGS = flags.FLAGS

_SET_BY_THE_PIPELINE = ("task", "model_dir", "export_dir")


def _metric_values(flag: str, pairs) -> dict:
  values = {}
  for pair in pairs:
    metric, _, value = pair.partition(":")
    try:
      values[metric.strip()] = float(value)
    except ValueError:
      raise UserError(f"--{flag}={pair} is not metric:number (e.g. accuracy:0.8)") from None
  return values


def pipeline_from_flags():
  if FLAGS.pipeline not in definitions.names():
    raise UserError(f"unknown --pipeline={FLAGS.pipeline}: choose from "
                    f"{', '.join(definitions.names())}")
  for name in _SET_BY_THE_PIPELINE:
    if FLAGS[name].present:
      raise UserError(f"--{name} is set by the pipeline (its artifacts' folders and task): "
                      "leave it out")
  return definitions.create(
      FLAGS.pipeline, train.config_from_flags(), schema_file=FLAGS.schema,
      split_feature=FLAGS.split_feature,
      eval_thresholds=_metric_values("eval_thresholds", FLAGS.eval_thresholds),
      eval_min_change=(None if FLAGS.eval_min_change is None
                       else _metric_values("eval_min_change", FLAGS.eval_min_change)))


def is_chief(pipeline) -> bool:
  """Under --strategy=multi_worker_mirrored each worker of TF_CONFIG's cluster runs the Trainer
  step alone: the strategy must be built before anything else starts TensorFlow in the process,
  and the data components must not run once per worker."""
  if FLAGS.strategy != "multi_worker_mirrored":
    return True
  distributed = sorted(component.id for component in pipeline.components
                       if component.DISTRIBUTED)
  if sorted(FLAGS.components or []) != distributed:
    raise UserError(f"--strategy=multi_worker_mirrored trains on every worker of TF_CONFIG's "
                    f"cluster: run each worker with --components={','.join(distributed)}, and "
                    "the other components before and after it without that strategy")
  return distribute.is_chief_task()


@exit_on_user_error
def main(argv):
  del argv
  pipeline = pipeline_from_flags()
  outputs = runner.run(pipeline, FLAGS.pipeline_root, FLAGS.beam_pipeline_args, FLAGS.serving_dir,
                       only=FLAGS.components, chief=is_chief(pipeline))
  pushed = outputs.get("Pusher", {}).get("pushed_model")
  if pushed is not None:
    if pushed.properties.get("pushed"):
      print(f"Pushed: {pushed.properties['pushed_destination']}")
    else:
      print(f"Not pushed: {'; '.join(pushed.properties.get('reasons', [])) or 'not blessed'}")
  logging.info("Lineage: python -m pipelines.lineage --pipeline_root=%s", FLAGS.pipeline_root)


if __name__ == "__main__":
  flags.mark_flags_as_required(["pipeline", "pipeline_root"])
  app.run(main)
