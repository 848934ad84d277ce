"""A consumer written by hand the way the seed system does it: the benchmark's baseline.

JSON consumer, groups joined in connect(), each push a group event carrying the payload that the
handler JSON-encodes per connection, through Channels' usual dispatch.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class SeedConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=4001)
            return
        self.groups = [f"seed_user_{user.pk}", "seed_broadcast"]
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def send_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": event["event_type"], "data": event["data"]})
