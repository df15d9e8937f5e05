"""Every online default, driven as far as an offline machine allows: each task's TFDS builder, a
keras-hub preset name and a Hugging Face id reach their download call and fail there, on the
network, with a message that says so. Only the network is replaced: name resolution fails at once,
as it does on a machine without one, and retry back-off does not wait (TFDS alone would retry for
over three minutes)."""

import socket
import sys
import time

import pytest

from tfsft import downloads, trainer
from tfsft.config import DataConfig, ModelConfig, RuntimeConfig, TrainConfig
from tfsft.errors import UserError
from tfsft.models import bert

# Each task with its default source and otherwise default flags, and the host TFDS downloads from.
DEFAULT_SOURCES = {
    "imdb": "ai.stanford.edu",
    "glue/sst2": "dl.fbaipublicfiles.com",
    "conll2003": "data.deepai.org",
    "squad": "rajpurkar.github.io",
    "translation": "www.phontron.com",
}


@pytest.fixture
def no_network(monkeypatch):
  asked = []

  def unresolvable(host, *args, **kwargs):
    asked.append(host)
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

  monkeypatch.setattr(socket, "getaddrinfo", unresolvable)
  monkeypatch.setattr(time, "sleep", lambda seconds: None)
  return asked


@pytest.mark.parametrize("task", sorted(DEFAULT_SOURCES))
def test_each_task_default_source_fails_only_at_the_download(task, no_network, tmp_path):
  config = TrainConfig(task=task, data=DataConfig(tfds_data_dir=str(tmp_path / "tfds")),
                       runtime=RuntimeConfig(model_dir=str(tmp_path / "model"),
                                             export_dir=str(tmp_path / "export")))
  with pytest.raises(UserError, match="could not download TFDS .* the network is unreachable") as error:
    trainer.run(config)
  assert "--data_path=" in str(error.value)
  assert DEFAULT_SOURCES[task] in no_network, no_network  # TFDS got as far as its download URL
  assert not (tmp_path / "model").exists() and not (tmp_path / "export").exists()


@pytest.mark.parametrize("checkpoint, host", [("bert_tiny_en_uncased", "api.kaggle.com"),
                                              ("hf://google-bert/bert-base-uncased", "huggingface.co")])
def test_remote_checkpoints_fail_at_their_download(checkpoint, host, no_network):
  with pytest.raises(UserError, match="could not download .* the network is unreachable"):
    bert.build(ModelConfig(init_checkpoint=checkpoint, max_seq_length=16))
  assert host in no_network


def test_a_missing_module_is_named_with_its_install_command(monkeypatch):
  # What TFDS 4.9 raised while preparing a data set before setup.cfg declared the module.
  monkeypatch.setitem(sys.modules, "importlib_resources", None)
  with pytest.raises(ImportError) as missing:
    import importlib_resources  # noqa: F401
  try:
    raise RuntimeError("while preparing the data set") from missing.value
  except RuntimeError as wrapped:
    error = downloads.failure("TFDS 'imdb_reviews'", wrapped, "pass --data_path")
  assert str(error) == ("TFDS 'imdb_reviews' needs the Python module 'importlib_resources', which "
                        "is not installed: pip install importlib_resources")


def test_the_install_has_what_tfds_imports_when_preparing():
  import importlib_resources  # noqa: F401  declared in setup.cfg for TFDS
