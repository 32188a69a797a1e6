"""The version's files: written locally in the job's work folder, hashed
(and deflated for the bundle) as they are written, stored beside the other
versions (a hard link when storage is a local folder), read back and
reconciled against the manifest (E5), and bundled into a canonical zip."""

from __future__ import annotations

import hashlib
import io
import os
import queue
import shutil
import tempfile
import threading
import time
import zipfile
import zlib
from array import array
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from isal import isal_zlib

from projects.jobs import JobFailed
from projects.models import Job, JobStatus

from .formats.base import IdDigest
from .models import DatasetVersion

# The bundle is a convenience copy of files hashed on their own, deflated by
# ISA-L while they are written. Its level 1 (of 0 to 3) runs as fast as 0
# here and makes a smaller file.
ZIP_LEVEL = 1
MANIFEST = "manifest.jsonl"
DATASHEET = "datasheet.json"
BUNDLE = "bundle.zip"
# The jobs' working folders, in a local storage's folder (see _work_root),
# one per job: <WORK_PREFIX><job id>.
WORK_DIR = "exports/.work"
WORK_PREFIX = "accord-export-job-"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class _Member:
    """A member of the bundle as the zip holds it: its bytes (a local file,
    or in memory), deflated or stored, and the crc32 and size of the file."""

    crc: int
    size: int
    method: int  # zipfile.ZIP_DEFLATED or zipfile.ZIP_STORED
    path: str | None = None
    body: bytes | None = None

    @classmethod
    def deflated(cls, body: bytes) -> _Member:
        squeeze = _deflater()
        return cls(
            crc=zlib.crc32(body),
            size=len(body),
            method=zipfile.ZIP_DEFLATED,
            body=squeeze.compress(body) + squeeze.flush(),
        )

    def packed_size(self) -> int:
        return len(self.body) if self.body is not None else os.path.getsize(self.path)


def _deflater():
    """A raw deflate stream, as a zip member holds it."""
    return isal_zlib.compressobj(ZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)


class _HashingFile(io.FileIO):
    """A local file that hashes what is written to it, in order, and (with
    ``deflate``) deflates it beside it for the bundle. The writing, hashing
    and deflating happen on a thread of the file's own (all release the
    GIL), so the export's thread goes on making the next rows meanwhile and
    the bundle is assembled at the end from what is ready; ``close`` waits
    for them and raises what failed."""

    def __init__(self, path: str, *, deflate: bool = True) -> None:
        super().__init__(path, "wb")
        self.sha = hashlib.sha256()
        self.size = 0
        self.crc = 0
        self._deflated = open(path + ".deflate", "wb") if deflate else None
        self._squeeze = _deflater() if deflate else None
        self._pending: queue.Queue = queue.Queue(maxsize=8)  # at most 8 chunks in flight
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="export-hash", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while (data := self._pending.get()) is not None:
            if self._error is not None:
                continue  # keep taking chunks so write() never blocks for ever
            try:
                view = memoryview(data)
                while view:
                    view = view[super().write(view) :]
                self.sha.update(data)
                self.crc = zlib.crc32(data, self.crc)
                if self._deflated is not None:
                    self._deflated.write(self._squeeze.compress(data))
            except BaseException as exc:  # raised by close()
                self._error = exc
        if self._deflated is not None:
            try:
                with self._deflated:
                    if self._error is None:
                        self._deflated.write(self._squeeze.flush())
            except BaseException as exc:
                self._error = self._error or exc

    def write(self, data) -> int:
        if self._error is not None:
            raise self._error
        chunk = bytes(data)  # the caller may reuse its buffer once we return
        self._pending.put(chunk)
        self.size += len(chunk)
        return len(chunk)

    def close(self) -> None:
        if self._thread.is_alive():
            self._pending.put(None)
            self._thread.join()
        super().close()
        if self._error is not None:
            raise self._error

    def member(self) -> _Member:
        """The bundle's member for this file, once it is closed."""
        if self._deflated is None:
            return _Member(self.crc, self.size, zipfile.ZIP_STORED, path=self.name)
        return _Member(self.crc, self.size, zipfile.ZIP_DEFLATED, path=self._deflated.name)


@dataclass
class Out:
    name: str  # relative to the version's folder
    path: str
    raw: _HashingFile
    stream: io.BufferedWriter
    split: str | None = None
    writer: Any = None
    rows: int = 0
    # The item ids of a split's records as written (its manifest lines),
    # hashed a chunk at a time: what reconciliation compares the stored file
    # with, in constant memory (a million ids would be 8 MB).
    ids: array = field(default_factory=lambda: array("q"))
    ids_digest: IdDigest = field(default_factory=IdDigest)

    def ids_flush(self) -> None:
        self.ids_digest.update(self.ids)
        del self.ids[:]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.stream.flush()
        self.stream.close()


def out_open(tmp: str, name: str, *, split: str | None = None, deflate: bool = True) -> Out:
    path = os.path.join(tmp, name.replace("/", "__"))
    raw = _HashingFile(path, deflate=deflate)
    return Out(name=name, path=path, raw=raw, stream=io.BufferedWriter(raw, 1 << 20), split=split)


def data_name(fmt, split: str) -> str:
    # Hugging Face folders keep their data files under data/ (the dataset
    # card's `configs` point there); other formats at the top.
    folder = getattr(fmt, "data_dir", "data/" if fmt.key == "hf" else "")
    return f"{folder}{split}{fmt.extension}"


def _local_storage() -> bool:
    # Django's own folder storage only: a subclass may change what it saves
    # (compress, encrypt, check), which a hard link would go around.
    return default_storage.__class__ is FileSystemStorage


def _work_root() -> str:
    """Where the jobs make their files: beside the stored versions when
    storage is a local folder, so that storing a file is a hard link instead
    of a copy of every byte (700 MB at a million JSONL records); else the
    system's temporary folder."""
    if not _local_storage():
        return tempfile.gettempdir()
    work = default_storage.path(WORK_DIR)
    os.makedirs(work, exist_ok=True)
    return work


def work_folder(job_id: int) -> str:
    # Named by the job, so what a killed attempt left can be found and
    # removed (work_folder_remove, work_folders_sweep).
    return os.path.join(_work_root(), f"{WORK_PREFIX}{job_id}")


def work_folder_remove(job_id: int) -> None:
    """Remove the job's work folder. Called under the job's lock (projects.jobs:
    when it is requeued, when it finishes, before an attempt starts)."""
    shutil.rmtree(work_folder(job_id), ignore_errors=True)


def work_folders_sweep() -> int:
    """Remove the work folders whose job is over or gone (a worker killed
    before it could remove its own, and its job given up), and the unnamed
    folders of older releases after a day. Runs hourly and before each
    export. Returns how many went."""
    root = _work_root()
    folders: dict[int, str] = {}
    removed = 0
    stale = time.time() - 24 * 3600
    for entry in os.scandir(root):
        if not entry.is_dir(follow_symlinks=False):
            continue
        if entry.name.startswith(WORK_PREFIX) and entry.name[len(WORK_PREFIX) :].isdigit():
            folders[int(entry.name[len(WORK_PREFIX) :])] = entry.path
        elif entry.name.startswith("accord-export-") and entry.stat().st_mtime < stale:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    live = set(
        Job.objects.filter(
            pk__in=folders, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        ).values_list("pk", flat=True)
    )
    for job_id, path in folders.items():
        if job_id not in live:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _linked(path: str, target: str) -> bool:
    """Store ``path`` as ``target`` by a hard link, when storage is a local
    folder on the same filesystem; False when it cannot."""
    if not _local_storage():
        return False
    full = default_storage.path(target)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    try:
        os.link(path, full)
    except OSError:  # another filesystem, or links not allowed: copy instead
        return False
    if default_storage.file_permissions_mode is not None:
        os.chmod(full, default_storage.file_permissions_mode)
    return True


def _store(version: DatasetVersion, name: str, path: str) -> None:
    """Put a local file into storage under the version's folder, replacing
    what an earlier, killed attempt left there."""
    target = version.folder + name
    if default_storage.exists(target):
        default_storage.delete(target)
    if _linked(path, target):
        return
    with open(path, "rb") as fh:
        saved = default_storage.save(target, File(fh, name=os.path.basename(target)))
    if saved != target:
        raise JobFailed(f"Storage stored {name} as {saved}; the export cannot be reconciled.")


def _file_entry(out: Out, fmt=None) -> dict:
    entry = {"name": out.name, "size": out.raw.size, "sha256": out.raw.sha.hexdigest()}
    if out.split is not None:
        entry["split"] = out.split
        entry["content_type"] = fmt.content_type
    return entry


def label_of(value: Any) -> str | None:
    """The manifest's label: the label key, the sorted labels joined by "|",
    or a short hash of any other value (so a compare sees it change) — of
    its canonical JSON, not of the database's text, which differs between
    PostgreSQL and SQLite."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "|".join(sorted(value))
    return (
        "sha256:"
        + hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    )


def plain_file(stored) -> BinaryIO:
    # Django's File iterates line by line in Python; its underlying file
    # (when storage has one) is a plain buffered reader.
    return getattr(stored, "file", stored)


def _size_and_sha256(fh: BinaryIO) -> tuple[int, str]:
    """The bytes left in ``fh``: how many, and their sha256."""
    digest, size = hashlib.sha256(), 0
    while chunk := fh.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _stored_as_written(version: DatasetVersion, out: Out) -> None:
    """The stored copy of ``out`` has the size and sha256 of what was written."""
    with default_storage.open(version.folder + out.name, "rb") as stored:
        size, sha = _size_and_sha256(stored)
    if size != out.raw.size or sha != out.raw.sha.hexdigest():
        raise JobFailed(f"The stored {out.name} is not the file that was written.")


def _reconcile(version: DatasetVersion, fmt, outs: dict[str, Out], manifest: Out) -> None:
    """Read back what was stored. The manifest is the bytes written; its
    lines were written with the ids each split's writer was given, hashed as
    they went. Every split's stored data file holds exactly those items, in
    order; a format that carries no ids is checked as the bytes written. A
    mismatch fails the job (E5)."""
    _stored_as_written(version, manifest)
    for out in outs.values():
        with default_storage.open(version.folder + out.name, "rb") as stored:
            read_back = fmt.ids_digest(plain_file(stored))
        if read_back is None:
            _stored_as_written(version, out)
            continue
        count, digest = read_back
        if count != out.rows:
            raise JobFailed(f"{out.name} holds {count} records; the manifest lists {out.rows}.")
        if digest != out.ids_digest.result()[1]:
            raise JobFailed(
                f"{out.name} differs from the manifest: the same number of records, but other "
                "items or another order."
            )


def _zip(tmp: str, members: list[tuple[str, _Member]]) -> str:
    """A canonical zip: sorted names, fixed dates and permissions.

    The members come ready (deflated while they were written, or stored when
    the format compressed them itself), so the zip is headers around copied
    bytes. zipfile cannot take a member's packed bytes, so each local header
    is written here and the member handed to the archive, whose close writes
    the central directory (with Zip64 records where sizes need them)."""
    path = os.path.join(tmp, BUNDLE)
    with zipfile.ZipFile(path, "w") as archive:
        for name, member in sorted(members, key=lambda m: m[0]):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = member.method
            info.external_attr = 0o644 << 16
            info.create_system = 3
            info.CRC, info.file_size = member.crc, member.size
            info.compress_size = member.packed_size()
            info.header_offset = archive.fp.tell()
            archive.fp.write(info.FileHeader())
            if member.body is not None:
                archive.fp.write(member.body)
            else:
                with open(member.path, "rb") as src:
                    shutil.copyfileobj(src, archive.fp, 1 << 20)
            archive.filelist.append(info)
            archive.NameToInfo[name] = info
            archive.start_dir = archive.fp.tell()  # where the central directory goes
    return path


class _Background(threading.Thread):
    """Runs ``work`` on a thread; ``result()`` joins it and returns its value
    or raises its exception."""

    def __init__(self, work) -> None:
        super().__init__(name="export-zip", daemon=True)
        self.work = work
        self.value: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.work()
        except BaseException as exc:  # raised in result()
            self.error = exc

    def result(self) -> Any:
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


def version_sha256(data_files: list[dict]) -> str:
    """sha256 over the data files in name order: name NUL sha256 newline."""
    digest = hashlib.sha256()
    for entry in sorted(data_files, key=lambda e: e["name"]):
        digest.update(f"{entry['name']}\0{entry['sha256']}\n".encode())
    return digest.hexdigest()


def _bundle(tmp: str, members: list[tuple[str, _Member]]) -> tuple[str, int, str]:
    """The zip, its size and its sha256."""
    bundle = _zip(tmp, members)
    with open(bundle, "rb") as fh:
        size, sha = _size_and_sha256(fh)
    return bundle, size, sha


@dataclass(frozen=True)
class StoredFiles:
    files: list[dict]  # the version's files: data, extra, manifest, datasheet, bundle
    sha256: str  # version_sha256 of the data files
    datasheet_sha256: str


def version_files_store(
    *, version: DatasetVersion, fmt, tmp: str, outs: dict[str, Out], manifest: Out,
    datasheet: dict, datasheet_bytes: bytes,
) -> StoredFiles:  # fmt: skip
    """Store the version's files (the closed data files and manifest, the
    format's extra files, the datasheet), reconcile them (E5), and store the
    bundle of them all; what was stored, with sizes and hashes."""
    data_files = [_file_entry(out, fmt) for out in outs.values()]
    members = [(out.name, out.raw.member()) for out in outs.values()]
    extras = []
    for name, body in sorted(fmt.extra_files(datasheet=datasheet, splits=sorted(outs)).items()):
        path = os.path.join(tmp, "extra__" + name.replace("/", "__"))
        with open(path, "wb") as fh:
            fh.write(body)
        members.append((name, _Member.deflated(body)))
        extras.append((name, path, body))
    sheet_path = os.path.join(tmp, DATASHEET)
    with open(sheet_path, "wb") as fh:
        fh.write(datasheet_bytes)
    members += [(DATASHEET, _Member.deflated(datasheet_bytes)), (MANIFEST, manifest.raw.member())]
    # The bundle is assembled from the members made while the files were
    # written, on a thread while they are stored and reconciled (file I/O
    # releases the GIL).
    zipping = _Background(lambda: _bundle(tmp, members))
    try:
        for out in [*outs.values(), manifest]:
            _store(version, out.name, out.path)
        _reconcile(version, fmt, outs, manifest)
        extra_entries = []
        for name, path, body in extras:
            _store(version, name, path)
            extra_entries.append(
                {"name": name, "kind": "extra", "size": len(body),
                 "sha256": hashlib.sha256(body).hexdigest()}
            )  # fmt: skip
        _store(version, DATASHEET, sheet_path)
    except BaseException:
        zipping.join()  # the temporary folder goes once the zip lets go of it
        raise
    bundle, bundle_size, bundle_sha = zipping.result()
    _store(version, BUNDLE, bundle)
    sheet_sha = hashlib.sha256(datasheet_bytes).hexdigest()
    files = [
        *data_files,
        *extra_entries,
        {"name": MANIFEST, "kind": "manifest", "size": manifest.raw.size,
         "sha256": manifest.raw.sha.hexdigest()},
        {"name": DATASHEET, "kind": "datasheet", "size": len(datasheet_bytes), "sha256": sheet_sha},
        {"name": BUNDLE, "kind": "zip", "size": bundle_size, "sha256": bundle_sha},
    ]  # fmt: skip
    return StoredFiles(files=files, sha256=version_sha256(data_files), datasheet_sha256=sheet_sha)
