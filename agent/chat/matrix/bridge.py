"""The Matrix bridge: a `ChatBridge` over a homeserver, through matrix-nio.

Receiving is one long-poll sync loop. Each batch is handed to the service (the
allowlist, then the durable inbox) before its `next_batch` is stored, so a
crash or restart delivers at least once and the inbox's dedupe (by event id)
makes it once. The very first sync, with no stored position, is the room's
history: only its pending invites are acted on. A timeline the homeserver cut
short (`limited`, after a long downtime) is filled in from `/messages` back
to the stored position.

Approvals without buttons: a proposal card is one message; the bot puts a ✅
and a ❌ under it to click on, and an allowlisted person's ✅/❌ **on that
card** is the same `ButtonClick` a Slack button makes. Which event is which
proposal's card is kept in the state dir. Reactions by others, on other
messages, or on a decided card do nothing here; the intake and the write gate
check everything again. A reaction taken back before the bridge turns it into
a click does nothing either, however the homeserver hands the two over (a
batch computed before the redaction, the redaction in a later batch, a
timeline filled back in): the click is made only after reading the reaction
as the homeserver holds it then.

Rooms must be unencrypted (the bridge keeps no E2EE keys): `doctor` says so of
the notify room, and every room is checked before anything is posted into it
(`encryption`): an encrypted one gets one notice instead, never the message.

The parts: `Connection` (client and store), `Rooms` (joins, direct chats, encryption,
sending an event), `Outgoing` (posts, cards, edits, files), `Incoming` (a batch to the
service) and `SyncLoop` (the long poll and the stored position).
"""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path

from nio import AsyncClient

from agent.chat.base import ClickHandler, MessageHandler
from agent.chat.card import Card
from agent.chat.matrix.encryption import EncryptedRooms
from agent.chat.matrix.html import Renderer
from agent.chat.matrix.incoming import Incoming
from agent.chat.matrix.outgoing import Outgoing
from agent.chat.matrix.rooms import Rooms
from agent.chat.matrix.session import Connection, MatrixBridgeError, log_in, new_client
from agent.chat.matrix.store import MatrixStore
from agent.chat.matrix.sync import SyncLoop, sync_filter
from agent.chat.safety import without_broadcasts

__all__ = ["STORE_FILE", "MatrixBridge", "MatrixBridgeError", "sync_filter"]

STORE_FILE = "matrix.sqlite"


class MatrixBridge:
    def __init__(
        self,
        homeserver: str,
        user_id: str,
        *,
        notify_room: str,
        state_dir: Path,
        access_token: str | None = None,
        password: str | None = None,
        allowed_users: frozenset[str] = frozenset(),
        sync_timeout_ms: int = 30_000,
        timeline_limit: int = 50,
    ) -> None:
        if not (access_token or password):
            raise MatrixBridgeError("set MATRIX_ACCESS_TOKEN (or _FILE) or MATRIX_PASSWORD")
        self.homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self.notify_room = notify_room
        self.allowed_users = allowed_users
        self._access_token = access_token
        self._password = password
        self._state_dir = state_dir
        self._connection = Connection()
        self._rooms = Rooms(self._connection)
        self._outgoing = Outgoing(self._connection, self._rooms, Renderer(allowed_users))
        self._incoming = Incoming(self._connection, self._rooms, user_id, allowed_users)
        self._sync = SyncLoop(
            self._connection,
            self._incoming,
            timeout_ms=sync_timeout_ms,
            timeline_limit=timeline_limit,
        )

    # -- life cycle ---------------------------------------------------------------------

    @property
    def notify_room_id(self) -> str:
        if self._rooms.notify_id is None:
            raise MatrixBridgeError("the Matrix bridge is not connected yet")
        return self._rooms.notify_id

    async def connect(self) -> str:
        """Log in and join the notify room; returns its room id. Idempotent."""
        if self._rooms.notify_id is not None:
            return self._rooms.notify_id
        store = self._connection.store = MatrixStore(self._state_dir / STORE_FILE)
        client = self._connection.client = new_client(self.homeserver, self.user_id)
        await log_in(client, store, access_token=self._access_token, password=self._password)
        try:
            self._rooms.notify_id = await self._rooms.join(self.notify_room)
        except MatrixBridgeError as exc:
            raise MatrixBridgeError(
                f"cannot join MATRIX_NOTIFY_ROOM={self.notify_room}: {exc}"
                f" (invite {self.user_id} to it, or make it joinable)"
            ) from exc
        self._rooms.direct = await store.direct_rooms()
        return self._rooms.notify_id

    async def start(self, on_message: MessageHandler, on_click: ClickHandler) -> None:
        await self.connect()
        self._incoming.on_message, self._incoming.on_click = on_message, on_click
        await self._sync.start()

    async def stop(self) -> None:
        await self._sync.stop()
        if self._connection.client is not None:
            await self._connection.client.close()
        if self._connection.store is not None:
            self._connection.store.close()
            self._connection.store = None
        self._rooms.notify_id = None

    # -- sending ------------------------------------------------------------------------

    async def post(
        self,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        card: Card | None = None,
    ) -> str:
        """Post Markdown as Matrix HTML, split into several events if long; a card is one
        event with the bot's ✅ and ❌ under it. Returns the (first) event id. An encrypted
        room gets its one notice instead (the notice's id)."""
        return await self._outgoing.post(channel, text, thread_ts=thread_ts, card=card)

    async def update(self, channel: str, ts: str, text: str, *, card: Card | None = None) -> None:
        """Edit a message (`m.replace`); an edit notifies nobody. A card showing its outcome
        stops taking reactions, and the bot's own ✅ ❌ under it are taken away."""
        await self._outgoing.update(channel, ts, text, card=card)

    async def upload(
        self, channel: str, path: Path, *, thread_ts: str | None = None, title: str | None = None
    ) -> None:
        """A file into the thread: `m.image` for pictures (with their size), `m.file` else."""
        await self._outgoing.upload(channel, path, thread_ts=thread_ts, title=title)

    def mention(self, user: str) -> str:
        # A Matrix id reads as itself; the renderer turns it into a pill for people we may
        # mention and lists them in m.mentions.
        return user

    def safe(self, text: str, mentionable: Container[str]) -> str:
        """The broadcast words (`@room`) neutralised. Mentions need nothing here: the
        renderer pills, and lists in `m.mentions`, only the people it may mention."""
        return without_broadcasts(text, mentionable)

    # -- for tests that reach past the interface -----------------------------------------

    @property
    def _client(self) -> AsyncClient | None:
        return self._connection.client

    @property
    def _encrypted(self) -> EncryptedRooms:
        return self._rooms.encrypted

    def _require_client(self) -> AsyncClient:
        return self._connection.require_client()

    async def _join(self, room: str) -> str:
        return await self._rooms.join(room)
