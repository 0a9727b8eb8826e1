"""Re-layout in the background: a new fit of the value map's layout while the old one is shown.

A fit of UMAP takes from tens of seconds to minutes, and the page must stay usable meanwhile,
so `start` runs `projection.refit` in a thread and keeps the job, with its progress, in a
process-wide registry keyed by (database, layout; a layout is one per encoder, settings and
quality filter): every browser session of one app sees the
same job, and a second click joins it instead of fitting twice. The database stays the record:
`refit` switches layouts in one transaction only once the new fit is stored, so every reader
sees the old layout until then and the new one after.
"""

from __future__ import annotations

import logging
import threading
import time

from univar.analysis import projection
from univar.analysis.projection import ProjectionConfig
from univar.errors import UserError
from univar.paths import Db, db_path
from univar.quality.filter import QualityFilter

_JOBS: dict[tuple[str, str], RelayoutJob] = {}
_LOCK = threading.Lock()
_log = logging.getLogger(__name__)


class RelayoutJob:
    """One refit of one layout: a thread, and its progress for pages to read."""

    def __init__(
        self,
        db: Db,
        encoder,
        config: ProjectionConfig,
        projectors=None,
        quality: QualityFilter | None = None,
    ):
        self.db = str(db_path(db).resolve())
        self.encoder, self.config, self.projectors = encoder, config, projectors
        self.quality = quality or QualityFilter()
        self.status = "running"  # running | done | failed
        self.fraction, self.message = 0.0, "Starting ..."
        self.error: str | None = None
        self.layout: projection.Layout | None = None
        self.started_at, self.finished_at = time.time(), None
        self._thread = threading.Thread(target=self._run, name="univar-relayout", daemon=True)

    @property
    def live(self) -> bool:
        return self.status == "running"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the fit ends; True when it did within `timeout`."""
        self._thread.join(timeout)
        return not self.live

    def _progress(self, done: float, total: float, message: str = "") -> None:
        self.fraction, self.message = done / max(total, 1), message or self.message

    def _run(self) -> None:
        try:
            self.layout = projection.refit(
                self.db,
                self.encoder,
                self.config,
                quality=self.quality,
                progress=self._progress,
                projectors=self.projectors,
            )
            self.status = "done"
        except Exception as exc:  # the page shows it; the thread must not die silently
            _log.exception("re-layout of %s failed", self.db)
            self.status = "failed"
            self.error = (str(exc) if isinstance(exc, UserError) else type(exc).__name__)[:300]
        finally:
            self.finished_at = time.time()


def _key(db: Db, encoder_id: str, config: ProjectionConfig, quality) -> tuple[str, str]:
    return str(db_path(db).resolve()), projection.layout_key(encoder_id, config, quality)


def job_for(
    db: Db, encoder_id: str, config: ProjectionConfig, quality: QualityFilter | None = None
) -> RelayoutJob | None:
    """The latest re-layout of this layout in this process, running or finished."""
    return _JOBS.get(_key(db, encoder_id, config, quality))


def start(
    db: Db,
    encoder,
    config: ProjectionConfig,
    *,
    quality: QualityFilter | None = None,
    projectors=None,
) -> RelayoutJob:
    """Refit this layout in the background; a refit already running is returned instead."""
    key = _key(db, encoder.id, config, quality)
    with _LOCK:
        job = _JOBS.get(key)
        if job is None or not job.live:
            job = _JOBS[key] = RelayoutJob(db, encoder, config, projectors, quality)
            job._thread.start()
    return job
