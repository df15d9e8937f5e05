"""Tasks by --task name. Adding one: a module with a Task subclass (or a factory taking the run's
DataConfig) and one line here."""

from tfsft.registry import Registry
from tfsft.tasks import glue
from tfsft.tasks.causal_language_modeling import InstructionTuningTask, LanguageModelingTask
from tfsft.tasks.imdb import ImdbTask
from tfsft.tasks.question_answering import SquadTask
from tfsft.tasks.text_classification import text_classification
from tfsft.tasks.token_classification import Conll2003Task, TokenClassificationTask
from tfsft.tasks.translation import TranslationTask

TASKS = Registry("task", "--task")
TASKS.register("imdb", ImdbTask)
TASKS.register("translation", TranslationTask)
TASKS.register("text_classification", text_classification)
TASKS.register("conll2003", Conll2003Task)
TASKS.register("token_classification", TokenClassificationTask)
TASKS.register("squad", SquadTask)
TASKS.register("instruction_tuning", InstructionTuningTask)
TASKS.register("language_modeling", LanguageModelingTask)
for _name, _factory in glue.TASK_FACTORIES.items():
  TASKS.register(_name, _factory)
