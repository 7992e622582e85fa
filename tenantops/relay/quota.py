"""One API quota shared by every relay process, paced through Redis.

Cognigy.AI counts 1,000 requests per 5 minutes per egress IP, so two relay processes
behind one IP must share one budget: an in-process pacer per process would spend it
twice. :class:`SharedPace` keeps a GCRA (generic cell rate algorithm) schedule in one
Redis key, ``tenantops:relay:quota``. Each call *reserves* the next send time in one
atomic script on Redis' own clock (processes' clocks may differ) and answers how long
to wait for it; reservations are served in the order they were made, and no call polls.

The schedule lets ``burst`` sends through at once, then one every ``interval``:
``burst + 1 + window / interval`` sends fit into any window, which
:func:`schedule_for` sets to the quota. A relay injects steadily instead of spending
the whole quota in its first second and then going silent for five minutes, which is
what lets it coalesce: while a session waits for its slot, newer states replace the
pending one (see :mod:`tenantops.relay.injector`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenantops.core.model import RateLimit

__all__ = ["QUOTA_KEY", "Schedule", "SharedPace", "schedule_for"]

#: The Redis key of the shared schedule: the theoretical arrival time, in ms.
QUOTA_KEY = "tenantops:relay:quota"

# KEYS: the schedule. ARGV: interval ms, tolerance ms (burst x interval).
# Returns the ms to wait before sending, as a string (Lua numbers are doubles).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local send_at = tat - tonumber(ARGV[2])
if send_at < now then send_at = now end
local new_tat = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return string.format('%.3f', send_at - now)
"""


@dataclass(frozen=True, slots=True)
class Schedule:
    """``burst`` sends at once, then one every ``interval`` seconds."""

    interval: float
    burst: int

    def most_in(self, window: float) -> int:
        """The most sends this schedule lets into any ``window`` seconds."""
        return self.burst + 1 + int(window / self.interval)


def schedule_for(limit: RateLimit, *, burst: int | None = None) -> Schedule:
    """The steadiest schedule that never sends more than ``limit`` in any of its windows.

    ``burst`` defaults to 5% of the quota (50 of 1,000), so a quiet relay answers a
    sudden wave at once and a busy one still spreads its calls evenly.
    """
    burst = max(0, limit.requests // 20) if burst is None else burst
    if burst + 1 >= limit.requests:
        burst = max(0, limit.requests - 2)
    return Schedule(interval=limit.period / (limit.requests - burst - 1), burst=burst)


class SharedPace:
    """Waits for this process' turn in the schedule that every relay process shares."""

    def __init__(self, redis: Any, schedule: Schedule, *, key: str = QUOTA_KEY) -> None:
        self.schedule = schedule
        self.key = key
        self._reserve = redis.register_script(_RESERVE)

    async def reserve(self) -> float:
        """Reserve the next send; answers the seconds to wait for it (Redis errors pass)."""
        interval_ms = self.schedule.interval * 1000
        tolerance_ms = interval_ms * self.schedule.burst
        reply = await self._reserve(keys=[self.key], args=[interval_ms, tolerance_ms])
        return max(0.0, float(reply) / 1000)
