"""How a Steward process runs: settings, Redis (`store`), the clock, the durable job queue,
timers, metrics, logs; and the process wiring (`services`, `process`, `inbox`) that assembles
the other packages.

May import: nothing of app/ but `slack.reply` (settings, store, clock, queue,
timers, metrics, logs); the wiring modules may import every package, and every package may
import `services`.
"""
