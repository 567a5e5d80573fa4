"""The Celery application: background jobs (the catalogue backfill, housekeeping).

Workers start with `celery -A shop worker`; the settings are Django's, under the
`CELERY_` prefix (see `shop/settings.py`, "Background jobs"). With no broker
configured, tasks run eagerly, in the process that queues them.
"""

import os
from pathlib import Path

from celery import Celery, beat, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Connected here, at the process's start: beat sends beat_init before Django's apps are ready.
# A worker serves once its pool's processes exist (a thread started before a fork would be
# lost to them).
@signals.worker_ready.connect(weak=False)
def _worker_serves_metrics(**kwargs):
    from shop.metrics import start_metrics_server

    start_metrics_server("worker")


@signals.beat_init.connect(weak=False)
def _beat_serves_metrics(**kwargs):
    from shop.metrics import start_metrics_server

    start_metrics_server("beat")


def jobs_run_eagerly():
    """Whether queued jobs run at once in the queuing process (no broker configured)."""
    return bool(app.conf.task_always_eager)


class PersistentScheduler(beat.PersistentScheduler):
    """Beat's own scheduler, which makes the directory of its schedule file (`--schedule`).

    Celery's opens the file where it is told and crashes at start when its directory
    is missing (a fresh host, a state directory not made yet).
    """

    def _open_schedule(self):
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open_schedule()
