"""Tasks by --task name. Adding one: a module with a Task subclass and one line here."""

from tfsft.registry import Registry
from tfsft.tasks.imdb import ImdbTask
from tfsft.tasks.translation import TranslationTask

TASKS = Registry("task", "--task")
TASKS.register("imdb", ImdbTask)
TASKS.register("translation", TranslationTask)
