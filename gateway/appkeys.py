"""Typed keys for what the process's aiohttp application holds (aiohttp's `web.AppKey`), shared by
every service it hosts: the HTTP handlers, the mail listeners and the in-process workers."""

from __future__ import annotations

from pathlib import Path

import redis
import redis.asyncio as aioredis
from aiohttp import web

from deskgate.gateway.config import Config
from deskgate.gateway.web.metrics import Metrics
from deskgate.queue.ingest import Ingest
from deskgate.queue.keys import Keys
from deskgate.queue.persistence import PersistenceGuard

CONFIG = web.AppKey("config", Config)
REDIS = web.AppKey("redis", aioredis.Redis)
# a blocking client for the retraining API: rq and the classifier registry are synchronous
SYNC_REDIS = web.AppKey("models_sync_redis", redis.Redis)
KEYS = web.AppKey("keys", Keys)
INGEST = web.AppKey("ingest", Ingest)
PERSISTENCE = web.AppKey("persistence", PersistenceGuard)
# the process's upkeep has its own small client (the revocation listener's subscription, the
# persistence guard's checks, /healthz's ping, /metrics' reads): requests filling REDIS's pool must not make this
# process look unhealthy, refuse ingest on a failed check, or miss a token revocation
CONTROL_REDIS = web.AppKey("control_redis", aioredis.Redis)
METRICS = web.AppKey("metrics", Metrics)
DATA_DIR = web.AppKey("data_dir", Path)
