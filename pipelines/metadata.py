"""A metadata store with ML Metadata's concepts, in SQLite: artifacts, executions, events (which
execution read or wrote which artifact) and contexts (the pipeline, and each run of it), so the
lineage of any artifact can be walked back to the data it came from.

States follow MLMD: an execution is RUNNING, then COMPLETE, FAILED or CACHED (its outputs reused
from an earlier execution with the same cache key); an artifact is PENDING while its execution runs
and LIVE once it finished.
"""

import contextlib
import json
import os
import sqlite3
import time
from typing import Dict, List, Optional, Tuple

from pipelines.artifacts import Artifact

FILE_NAME = "metadata.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS artifacts (
  id INTEGER PRIMARY KEY, type TEXT NOT NULL, uri TEXT NOT NULL, properties TEXT NOT NULL,
  state TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
  id INTEGER PRIMARY KEY, component TEXT NOT NULL, component_type TEXT NOT NULL,
  cache_key TEXT NOT NULL, state TEXT NOT NULL, properties TEXT NOT NULL, pid INTEGER,
  started REAL NOT NULL, finished REAL);
CREATE TABLE IF NOT EXISTS events (
  execution_id INTEGER NOT NULL, artifact_id INTEGER NOT NULL, kind TEXT NOT NULL,
  key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contexts (
  id INTEGER PRIMARY KEY, type TEXT NOT NULL, name TEXT NOT NULL, UNIQUE (type, name));
CREATE TABLE IF NOT EXISTS associations (context_id INTEGER NOT NULL, execution_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS attributions (context_id INTEGER NOT NULL, artifact_id INTEGER NOT NULL);
"""

INPUT, OUTPUT = "INPUT", "OUTPUT"
RUNNING, COMPLETE, FAILED, CACHED = "RUNNING", "COMPLETE", "FAILED", "CACHED"


class MetadataStore:

  def __init__(self, path: str):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    self.path = path
    # autocommit off, one transaction per `with self._db`: a kill never leaves half a record.
    self._db = sqlite3.connect(path, timeout=60)
    with self._db:
      self._db.executescript(_SCHEMA)

  def close(self):
    self._db.close()

  # Contexts ------------------------------------------------------------------------------------

  def context(self, type_name: str, name: str) -> int:
    with self._db:
      self._db.execute("INSERT OR IGNORE INTO contexts (type, name) VALUES (?, ?)",
                       (type_name, name))
    return self._db.execute("SELECT id FROM contexts WHERE type = ? AND name = ?",
                            (type_name, name)).fetchone()[0]

  # Executions ----------------------------------------------------------------------------------

  def start_execution(self, component: str, component_type: str, cache_key: str, properties: dict,
                      inputs: Dict[str, Artifact], contexts: List[int]) -> int:
    with self._db:
      cursor = self._db.execute(
          "INSERT INTO executions (component, component_type, cache_key, state, properties, pid, "
          "started) VALUES (?, ?, ?, ?, ?, ?, ?)",
          (component, component_type, cache_key, RUNNING, json.dumps(properties, sort_keys=True),
           os.getpid(), time.time()))
      execution_id = cursor.lastrowid
      self._link(execution_id, inputs, INPUT, contexts)
    return execution_id

  def record_outputs(self, execution_id: int, outputs: Dict[str, Artifact], contexts: List[int],
                     state: str = "PENDING"):
    """Gives each output artifact an id (the first time) and links it to the execution."""
    with self._db:
      for artifact in outputs.values():
        if artifact.id is None:
          artifact.id = self._db.execute(
              "INSERT INTO artifacts (type, uri, properties, state, created) VALUES (?, ?, ?, ?, ?)",
              (artifact.type_name, artifact.uri, json.dumps(artifact.properties, sort_keys=True),
               state, time.time())).lastrowid
      self._link(execution_id, outputs, OUTPUT, contexts)

  def finish_execution(self, execution_id: int, state: str, outputs: Dict[str, Artifact],
                       properties: Optional[dict] = None):
    with self._db:
      for artifact in outputs.values():
        self._db.execute("UPDATE artifacts SET properties = ?, state = ? WHERE id = ?",
                         (json.dumps(artifact.properties, sort_keys=True),
                          "LIVE" if state in (COMPLETE, CACHED) else "ABANDONED", artifact.id))
      if properties is not None:
        self._db.execute("UPDATE executions SET properties = ? WHERE id = ?",
                         (json.dumps(properties, sort_keys=True), execution_id))
      self._db.execute("UPDATE executions SET state = ?, finished = ? WHERE id = ?",
                       (state, time.time(), execution_id))

  def _link(self, execution_id, artifacts: Dict[str, Artifact], kind, contexts):
    for key, artifact in artifacts.items():
      self._db.execute("INSERT INTO events (execution_id, artifact_id, kind, key) VALUES (?, ?, ?, ?)",
                       (execution_id, artifact.id, kind, key))
      for context_id in contexts:
        self._db.execute("INSERT INTO attributions (context_id, artifact_id) VALUES (?, ?)",
                         (context_id, artifact.id))
    for context_id in contexts:
      self._db.execute("INSERT INTO associations (context_id, execution_id) VALUES (?, ?)",
                       (context_id, execution_id))

  def last_execution(self, cache_key: str, states: Tuple[str, ...]) -> Optional[dict]:
    placeholders = ", ".join("?" * len(states))
    row = self._db.execute(
        f"SELECT id, component, component_type, state, properties, pid FROM executions "
        f"WHERE cache_key = ? AND state IN ({placeholders}) ORDER BY id DESC LIMIT 1",
        (cache_key, *states)).fetchone()
    return None if row is None else self._execution(row)

  def execution(self, execution_id: int) -> dict:
    return self._execution(self._db.execute(
        "SELECT id, component, component_type, state, properties, pid FROM executions "
        "WHERE id = ?", (execution_id,)).fetchone())

  @staticmethod
  def _execution(row) -> dict:
    return {"id": row[0], "component": row[1], "component_type": row[2], "state": row[3],
            "properties": json.loads(row[4]), "pid": row[5]}

  def executions(self) -> List[dict]:
    rows = self._db.execute("SELECT id, component, component_type, state, properties, pid "
                            "FROM executions ORDER BY id").fetchall()
    return [self._execution(row) for row in rows]

  # Artifacts and events ------------------------------------------------------------------------

  def artifacts_of(self, execution_id: int, kind: str) -> Dict[str, Artifact]:
    rows = self._db.execute(
        "SELECT e.key, a.id, a.type, a.uri, a.properties FROM events e JOIN artifacts a "
        "ON a.id = e.artifact_id WHERE e.execution_id = ? AND e.kind = ? ORDER BY e.rowid",
        (execution_id, kind)).fetchall()
    return {key: Artifact(type_name, uri, json.loads(properties), artifact_id)
            for key, artifact_id, type_name, uri, properties in rows}

  def producer(self, artifact_id: int) -> Optional[int]:
    """The execution that finished writing the artifact: a cached execution only re-links it, and
    a resumed one finishes what a killed one began."""
    row = self._db.execute(
        "SELECT e.execution_id FROM events e JOIN executions x ON x.id = e.execution_id "
        "WHERE e.artifact_id = ? AND e.kind = ? ORDER BY (x.state = ?) DESC, e.rowid LIMIT 1",
        (artifact_id, OUTPUT, COMPLETE)).fetchone()
    return None if row is None else row[0]

  def artifact(self, artifact_id: int) -> Optional[Artifact]:
    row = self._db.execute("SELECT id, type, uri, properties FROM artifacts WHERE id = ?",
                           (artifact_id,)).fetchone()
    return None if row is None else Artifact(row[1], row[2], json.loads(row[3]), row[0])

  def artifacts(self, type_name: str) -> List[Artifact]:
    rows = self._db.execute("SELECT id, type, uri, properties FROM artifacts WHERE type = ? AND "
                            "state = 'LIVE' ORDER BY id", (type_name,)).fetchall()
    return [Artifact(kind, uri, json.loads(properties), artifact_id)
            for artifact_id, kind, uri, properties in rows]


@contextlib.contextmanager
def open_store(pipeline_root: str):
  store = MetadataStore(os.path.join(pipeline_root, FILE_NAME))
  try:
    yield store
  finally:
    store.close()
