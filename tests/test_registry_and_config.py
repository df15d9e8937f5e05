import os
import subprocess
import sys

import pytest

from tfsft.config import DataConfig, TrainConfig
from tfsft.errors import UserError
from tfsft.models import MODELS
from tfsft.registry import Registry
from tfsft.tasks import TASKS


def test_unknown_names_list_what_exists():
  with pytest.raises(UserError, match=r"unknown task 'imbd': choose --task from conll2003, glue/cola, "
                                      r".*, imdb, instruction_tuning, language_modeling, squad, "):
    TASKS.get("imbd")
  with pytest.raises(UserError, match="bert, causal_lm, lstm"):
    MODELS.get("gpt")


def test_duplicates_are_refused():
  registry = Registry("thing", "--thing")
  registry.register("a", 1)
  with pytest.raises(ValueError, match="registered twice"):
    registry.register("a", 2)


def test_config_round_trips_through_json():
  config = TrainConfig(task="imdb", data=DataConfig(data_path="x", max_train_examples=5))
  assert TrainConfig.from_dict(__import__("json").loads(config.to_json())) == config


def test_importing_tfsft_turns_on_the_bfc_cpu_allocator_unless_the_user_chose():
  """The setting must be in the environment before TensorFlow starts (a fresh process)."""
  show = "import os, tfsft; print(os.environ[tfsft.CPU_ALLOCATOR_SETTING])"
  environment = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
  for given, expected in ((None, "1"), ("0", "0")):
    env = dict(environment, **({"TF_CPU_ALLOCATOR_USE_BFC": given} if given else {}))
    process = subprocess.run([sys.executable, "-c", show], capture_output=True, text=True, env=env,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert process.stdout.strip() == expected, process.stderr
