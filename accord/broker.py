"""The embedded mode's broker: kombu's filesystem transport, made to survive
an empty or partial message file.

kombu's channel writes a message in place (create the file, lock it, write)
and reads one by moving the file out of the folder and parsing it. A reader
that lists the folder between the create and the write moves an empty file
away (the writer's bytes then go to a file nobody reads), and a process
stopped in the middle of a write leaves an empty or truncated file. Either
way ``loads`` raises in the worker's consumer, which stops the worker and
with it the embedded instance.

Here a message is written under a name no reader lists (``.<name>.part``)
and renamed into place once complete, so readers only ever see whole
messages; a reader claims a message by renaming it (one reader wins), reads
and removes it, and skips with a warning what still does not parse (a file
from kombu's own writer, a disk that lost it). The exchange tables in the
control folder get the same treatment: an unreadable table counts as empty
and is written again by the next binding.

Registered as ``accordfs://`` in ``accord/celery.py``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

# A partial write or a claimed message older than this belongs to a process
# that died: it is removed.
ABANDONED_SECONDS = 3600


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # The name orders messages by time, as kombu's does.
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as fh:
                fh.write(str_to_bytes(dumps(payload)))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue):
        suffix = f".{queue}.msg"
        folder = self.data_folder_in
        for name in sorted(os.listdir(folder)):
            if name.startswith("."):
                self._remove_if_abandoned(os.path.join(folder, name))
                continue
            if not name.endswith(suffix):
                continue
            taken = os.path.join(folder, f".{name}.taken")
            try:
                os.rename(os.path.join(folder, name), taken)
            except FileNotFoundError:
                continue  # another consumer took it
            try:
                with open(taken, "rb") as fh:
                    payload = fh.read()
            finally:
                if self.store_processed:
                    shutil.move(taken, os.path.join(self.processed_folder, name))
                else:
                    os.remove(taken)
            try:
                return loads(bytes_to_str(payload))
            except ValueError:  # empty, truncated, not UTF-8: not a message
                log.warning(
                    "broker: skipped and removed %s (%d bytes, not a whole message)",
                    name,
                    len(payload),
                )
        raise filesystem.Empty()

    def _messages(self, queue) -> list[str]:
        suffix = f".{queue}.msg"
        return [
            name
            for name in os.listdir(self.data_folder_in)
            if name.endswith(suffix) and not name.startswith(".")
        ]

    def _size(self, queue):
        return len(self._messages(queue))

    def _purge(self, queue):
        count = 0
        for name in self._messages(queue):
            with contextlib.suppress(FileNotFoundError):  # a consumer took it
                os.remove(os.path.join(self.data_folder_in, name))
                count += 1
        return count

    @staticmethod
    def _remove_if_abandoned(path: str) -> None:
        with contextlib.suppress(OSError):
            if time.time() - os.stat(path).st_mtime > ABANDONED_SECONDS:
                os.remove(path)

    def get_table(self, exchange):
        file = self.control_folder / f"{exchange}.exchange"
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        return [filesystem.exchange_queue_t(*q) for q in _table(raw, file)]

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        self.control_folder.mkdir(exist_ok=True)
        file = self.control_folder / f"{exchange}.exchange"
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        # One binder at a time (a lock on a file beside the table), and the
        # table replaced whole, so a reader never sees half of one.
        with open(self.control_folder / f".{exchange}.lock", "wb") as lock:
            filesystem.lock(lock, filesystem.LOCK_EX)
            try:
                try:
                    raw = file.read_bytes()
                except FileNotFoundError:
                    raw = b"[]"
                queues = [filesystem.exchange_queue_t(*q) for q in _table(raw, file)]
                if binding in queues:
                    return
                queues.insert(0, binding)
                partial = file.with_name(f".{file.name}.part")
                partial.write_bytes(str_to_bytes(dumps(queues)))
                os.replace(partial, file)
            finally:
                filesystem.unlock(lock)


def _table(raw: bytes, file: Path) -> list:
    try:
        table = loads(bytes_to_str(raw))
    except ValueError:
        table = None
    if not isinstance(table, list):
        log.warning("broker: %s is not a whole exchange table; taken as empty", file)
        return []
    return table


class Transport(filesystem.Transport):
    Channel = Channel
