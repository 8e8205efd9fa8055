"""The beat scheduler: celery-redbeat's, kept alive through a coordination Redis restart or outage.

redbeat keeps the schedule and a lock in Redis and extends the lock on every tick. When that
Redis restarts empty (or the lock expired while beat was stalled), the extension fails with
`LockNotOwnedError` and redbeat lets the exception end the beat process; a connection error
does the same. Here such a beat stands by instead: it waits for the lock like a standby beat
(another one may have taken it meanwhile, and it must then not send), and once it holds it
again it stores the schedule entries anew (`setup_schedule`: a Redis that restarted empty has
lost them; entries still there keep their last run time). While Redis is unreachable it
sends nothing and retries every `beat_max_loop_interval`.

The broker likewise: Celery's beat retries a broker that does not answer, but lets an
irrecoverable refusal (a RabbitMQ vhost deleted and re-created, its permissions not yet
granted; a password being rotated) end the process. Here beat logs it and tries again every
`beat_max_loop_interval`, sending nothing meanwhile; what it would have sent is due at once
when the broker takes it again.
"""
from __future__ import annotations

import logging
from types import SimpleNamespace

import redis
from redbeat import RedBeatScheduler
from redbeat.schedulers import acquire_distributed_beat_lock

log = logging.getLogger(__name__)


class Scheduler(RedBeatScheduler):
    """`beat_scheduler = "tasks.beat:Scheduler"` (celeryconfig.py)."""

    def tick(self, *args, **kwargs):
        try:
            if self.lock_key and self.lock is None:  # Redis was down when beat started
                self.stand_by()
            return super().tick(*args, **kwargs)
        except redis.exceptions.LockNotOwnedError:
            log.warning("beat lost its lock (the coordination Redis restarted or the lock expired): standing by")
            self.stand_by()
            return 0.0
        except redis.exceptions.RedisError as e:
            log.warning("beat cannot reach the coordination Redis (%s): nothing sent, retrying", type(e).__name__)
            return self.max_interval
        except self.broker_errors() as e:
            log.warning("the broker refused beat (%s: %s): nothing sent, retrying in %s s",
                        type(e).__name__, e, self.max_interval)
            return self.max_interval

    def broker_errors(self) -> tuple[type[BaseException], ...]:
        """What the broker's transport raises when it cannot connect or refuses (kombu's public lists)."""
        return tuple(self.connection.connection_errors) + tuple(self.connection.channel_errors)

    def stand_by(self) -> None:
        """Wait for the lock like a standby beat; once held, store the schedule entries again."""
        if self.lock is None:
            acquire_distributed_beat_lock(sender=SimpleNamespace(scheduler=self))
        else:
            self.lock.acquire()
        if self.lock is None:
            raise redis.exceptions.ConnectionError("beat lock not acquired")
        log.info("beat holds the lock again: schedule entries stored anew")
        self.setup_schedule()
