import logging
import os
import threading
import time

from celery import Celery, signals
from celery.worker import consumer, state

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mastercopy.settings")

app = Celery("mastercopy")
# Every CELERY_* Django setting configures the app; settings.py is the only place they are read.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger(__name__)


class Consumer(consumer.Consumer):
    """Celery's consumer, made to survive a broker restart (settings: CELERY_WORKER_CONSUMER).

    On a lost connection celery 5.7.0 first collect()s the old connection, which detaches it from its
    transport, and then closes it. With Redis and a task in flight (acks_late) that close drops the
    channel's connection pool and needs the detached transport to rebuild it: the close, and later the
    task's acknowledgement, fail with AttributeError and the worker dies ("Unrecoverable error") instead
    of reconnecting. So the close is skipped, as celery 5.6 did: collect() has released the connection,
    and a task still running acknowledges through its channel's pool once Redis is back.
    tests/test_failure_recovery.py kills Redis under a busy worker (without this, the worker dies).
    """

    def on_connection_error_after_connected(self, exc):
        if self.connection is not None:
            self.connection.close = _already_collected
        super().on_connection_error_after_connected(exc)


def _already_collected():
    pass


@signals.worker_ready.connect
def start_resuming(sender, **kwargs):
    """Now and then every MASTERCOPY_RESUME_SECONDS, this worker sends dedup's resume_pending if it has
    nothing to do and the queue is empty: whatever the database still shows as waiting then has no message
    (lost with a broker, never published, or out of retries) and is enqueued again. No beat process needed;
    every worker does it, and a resume that finds nothing stranded costs three indexed queries."""
    from django.conf import settings

    period = settings.MASTERCOPY_RESUME_SECONDS
    if period > 0:
        threading.Thread(target=_resume_loop, args=(sender.app, period), name="resume", daemon=True).start()


@signals.worker_process_init.connect
def warm_search_index(**kwargs):
    """Each process that may run pair searches loads its long-lived index now (dedup.search.warm), in the
    background, so the first batch after a (re)start does not wait for the archive to be read."""
    queues = list(app.amqp.queues.consume_from)
    threading.Thread(target=_warm, args=(queues,), name="warm", daemon=True).start()


def _warm(queues):
    from django.db import connection

    from dedup.search import warm

    try:
        warm(queues)
    except Exception as exc:  # noqa: BLE001 - the first batch loads the index instead
        log.warning("could not warm the search index now (%s); the first batch will load it", exc)
    finally:
        connection.close()


def _resume_loop(app, period):
    while True:
        try:
            if _idle(app):
                app.send_task("dedup.tasks.resume_pending")
        except Exception as exc:  # noqa: BLE001 - the broker is away: try again next time
            log.warning("could not look for stranded work (%s); trying again in %s s", exc, period)
        time.sleep(period)


def _idle(app):
    """This worker holds no task (running, waiting for a process, or waiting for a retry's countdown)
    and the queue is empty."""
    # Not state.requests: a retry reuses its task's id, so that mapping can lose a scheduled retry.
    if state.active_requests or state.reserved_requests or state.scheduled_requests:
        return False
    with app.connection_for_read() as connection:
        declared = connection.default_channel.queue_declare(
            queue=app.conf.task_default_queue, durable=True, auto_delete=False
        )
    return declared.message_count == 0
