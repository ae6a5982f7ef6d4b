"""AcksFirst: in-process workers start no new job while serve is answering a request."""

from __future__ import annotations

import asyncio

from app.runtime.acks_first import AcksFirst


async def test_a_worker_waits_while_a_request_is_answered_and_goes_on_when_it_is() -> None:
    acks = AcksFirst(max_wait=60)  # far longer than the test: only `leave` can end the wait
    acks.enter()
    waiting = asyncio.ensure_future(acks.wait())
    await asyncio.sleep(0)
    assert not waiting.done()
    acks.enter()
    acks.leave()  # one of two requests answered: still busy
    await asyncio.sleep(0)
    assert not waiting.done()
    acks.leave()
    await asyncio.wait_for(waiting, 5)


async def test_an_idle_front_door_never_holds_a_worker() -> None:
    await asyncio.wait_for(AcksFirst(max_wait=60).wait(), 5)


async def test_a_steady_stream_of_requests_cannot_starve_the_workers() -> None:
    acks = AcksFirst(max_wait=0.01)
    acks.enter()  # never left: requests keep arriving
    await asyncio.wait_for(acks.wait(), 5)  # returns after max_wait anyway
