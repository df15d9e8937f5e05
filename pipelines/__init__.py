"""TFX-style components for tfsft: ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator ->
Trainer -> Evaluator -> InfraValidator -> Pusher, with lineage and caching in a metadata store.

TFX itself cannot be installed next to TensorFlow 2.20, so these keep TFX's shapes (artifacts in
`<pipeline_root>/<component>/<output>/<execution id>/`, Examples as `Split-*/data_tfrecord-*.gz`,
tensorflow-metadata's Statistics / Schema / Anomalies protos, BLESSED / NOT_BLESSED files, ML
Metadata's artifacts, executions, events and contexts) on what does install: Apache Beam for the
data components, tfsft for training, evaluation and serving checks.

  python -m pipelines.run --pipeline=imdb_bert --pipeline_root=runs/pipeline \
      --serving_dir=serving/imdb --data_path=aclImdb_v1.tar.gz --init_checkpoint=<checkpoint>
  python -m pipelines.lineage --pipeline_root=runs/pipeline
  python -m pipelines.compile_kfp --pipeline=imdb_bert --output=pipeline.yaml
"""
