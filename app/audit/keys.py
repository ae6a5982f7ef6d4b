"""Every Redis key of the audit package, named in one place.

Keys (all under the prefix, `steward` by default):
    {p}:audit                      stream; entry fields `id` (sequence), `iid`, `json` (the event)
    {p}:audit:head                 hash: `hash`, `seq`, `stream_id` of the last event, and
                                   `tree`, the Merkle tree's size (absent in a log begun before it)
    {p}:audit:merkle:{chunk}       string: the Merkle tree's nodes, 32 bytes each at their
                                   in-order slot (`app.audit.lua_merkle`)
    {p}:audit:checkpoint:lock      SET NX PX: one process signs a checkpoint at a time
    {p}:audit:checkpoint:last      hash: `size`, `at` of the last checkpoint published (only
                                   when the next is due; what it proves lives outside Redis)
    {p}:audit:checkpoint:published string: JSON of the last checkpoint and where it went, for
                                   the admin App Home (`app.audit.integrity`); a display copy
    {p}:audit:verify:last          string: JSON of the last `verify`'s result (the same module)
    {p}:audit:anchor               hash: `hash`, `seq`, `stream_id`, `at`, `file` of the last
                                   archived (trimmed) event; verification starts after it
    {p}:audit:archived             hash: `seq`, `stream_id` of the last event written to an
                                   archive file (it may not be trimmed yet: no checkpoint
                                   covers it), `files`: JSON [[last id, name], …] of the files
                                   holding events not yet trimmed
    {p}:audit:interaction:{iid}    zset: stream ids of an interaction's events, scored by sequence
    {p}:audit:user:{actor_id}      zset: stream ids by the actor, scored by append time (ms)
    {p}:audit:channel:{channel}    zset: stream ids in the channel, scored by append time (ms)
    {p}:audit:awaiting:{user}      zset: interaction ids whose `approval_requested` (or
                                   `escalated`) event named the user in `extra["approvers"]`,
                                   scored by append time (ms); a hint for App Home, checked
                                   against the state when read
    {p}:interaction:{iid}          hash: the interaction's latest state (see InteractionState)
    {p}:audit:archive:lock         retention lock (SET NX PX), so one process archives at a time
    {p}:audit:archive:pending      set: index keys left to prune after a trim (crash-safe)
    {p}:audit:retention:gate       SET NX PX: one retention run per interval across processes
    {p}:audit:sink:{name}:cursor   hash: `stream_id`, `seq` of the last event the sink took
    {p}:audit:sink:{name}:lease    SET PX: the one process forwarding to that sink just now
    {p}:audit:holds                hash: legal holds in force, `kind:target` → the Hold's JSON
    {p}:audit:held:{iid}           hash: event id → stored JSON of a held event retention
                                   archived: kept here (archive-and-keep) while a hold covers it
    {p}:audit:held:index           set: interaction ids with events in `held:{iid}`
    {p}:audit:usage:{YYYY-MM-DDTHH} hash: running totals of the events of that UTC hour (by
                                   `at`), see `app.audit.totals`; expires 400 days after its
                                   first write
    {p}:audit:usage:day:{YYYY-MM-DD} hash: the same totals for a whole UTC day, so a 30-day
                                   window reads about 30 hashes and the hours at its two ends
    {p}:audit:usage:open           zset: interactions whose latest approval status is pending
                                   or escalated, scored by that event's time (ms)
    {p}:audit:usage:rejections     list: the newest rejections (JSON), newest first
    {p}:audit:usage:low            list: the newest low-confidence outputs (JSON), newest first
"""

from __future__ import annotations


class AuditKeys:
    def __init__(self, prefix: str = "steward") -> None:
        self.prefix = prefix
        self.stream = f"{prefix}:audit"
        self.head = f"{prefix}:audit:head"
        self.anchor = f"{prefix}:audit:anchor"
        self.archived = f"{prefix}:audit:archived"
        self.merkle = f"{prefix}:audit:merkle"
        self.checkpoint_lock = f"{prefix}:audit:checkpoint:lock"
        self.checkpoint_last = f"{prefix}:audit:checkpoint:last"
        self.checkpoint_published = f"{prefix}:audit:checkpoint:published"
        self.verify_last = f"{prefix}:audit:verify:last"
        self.lock = f"{prefix}:audit:archive:lock"
        self.pending = f"{prefix}:audit:archive:pending"
        self.retention_gate = f"{prefix}:audit:retention:gate"
        self.usage_open = f"{prefix}:audit:usage:open"
        self.usage_rejections = f"{prefix}:audit:usage:rejections"
        self.usage_low = f"{prefix}:audit:usage:low"

    @property
    def holds(self) -> str:
        return f"{self.prefix}:audit:holds"

    @property
    def held_index(self) -> str:
        return f"{self.prefix}:audit:held:index"

    def held(self, interaction_id: str) -> str:
        return f"{self.prefix}:audit:held:{interaction_id}"

    def sink_cursor(self, sink: str) -> str:
        return f"{self.prefix}:audit:sink:{sink}:cursor"

    def sink_lease(self, sink: str) -> str:
        return f"{self.prefix}:audit:sink:{sink}:lease"

    def usage_day(self, day: str) -> str:
        """The totals of one UTC day, `day` being an `at` cut to `YYYY-MM-DD`."""
        return f"{self.prefix}:audit:usage:day:{day}"

    def usage_hour(self, hour: str) -> str:
        """The totals of one UTC hour, `hour` being an `at` cut to `YYYY-MM-DDTHH`."""
        return f"{self.prefix}:audit:usage:{hour}"

    def state(self, interaction_id: str) -> str:
        return f"{self.prefix}:interaction:{interaction_id}"

    def by_interaction(self, interaction_id: str) -> str:
        return f"{self.prefix}:audit:interaction:{interaction_id}"

    def by_user(self, actor_id: str) -> str:
        return f"{self.prefix}:audit:user:{actor_id}"

    def by_channel(self, channel_id: str) -> str:
        return f"{self.prefix}:audit:channel:{channel_id}"

    def awaiting(self, user_id: str) -> str:
        return f"{self.prefix}:audit:awaiting:{user_id}"
