"""A bare Celery app for the queue-check tests: a worker started on it consumes the
queues given with ``-Q`` on the broker named by ``CLOUDPLAN_TEST_BROKER``."""

from __future__ import annotations

import os

from celery import Celery

app = Celery("cloudplan-queue-test", broker=os.environ["CLOUDPLAN_TEST_BROKER"])
