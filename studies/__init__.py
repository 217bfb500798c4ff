"""The study's storage: where a study lives, Optuna's storage, our tables and their queries,
and the copy of a live SQLite database to Google Drive (the only place SQL lives).

A notebook needs only the Drive copy from here; the rest serves :mod:`search`.
"""

from studies.backup import backup_sqlite, restore_sqlite
from studies.storage import StudyError, StudyLocation, locate

__all__ = ["StudyError", "StudyLocation", "backup_sqlite", "locate", "restore_sqlite"]
