"""``ckptfix restore``: undo a repair from its ``.ckptfix/backup-<UTC time>/``; list the backups; prune old ones.

Every repair leaves a backup folder with a ``manifest.json`` naming each file it changed, the SHA-256 of
the original and of the repaired file, and what undoes it: a byte-identical copy (a file rewritten, or
re-created over an unreadable one), nothing (a file repair created: removing it undoes it), or a patch
record (``optimizer*.bin`` patched by ``--optimizer-lr``: the old bytes go back).

Restoring is all or nothing as far as it can be checked beforehand: each file must be the repaired one
(restore it) or already the original (leave it); if any file is neither, someone changed it since, and
nothing is touched. Files are restored in the reverse order of the repair, under the repair lock, each
by a temporary file, fsync and ``os.replace`` and checked against the original's SHA-256 afterwards. A
restored backup is marked (``restored.json`` inside it), so a second ``restore`` undoes the repair before it.

A backup is untrusted input: a checkpoint copied from someone else may ship its own ``.ckptfix/``.

* Every file is reached through ``durable.Folder``: ``.ckptfix``, the ``backup-<UTC time>`` folders and every
  file in them or in the checkpoint are opened relative to their folder's descriptor, never through a
  symlink, and checked after opening to be a folder or a regular file; the restored mark and the restored
  files are written the same way. Only folders named as repair names them are considered.
* Bounds before work: at most ``MAX_BACKUPS`` backup folders, a manifest of at most ``MAX_MANIFEST_BYTES``
  nested at most ``MAX_DEPTH`` deep, a copy of at most ``whole_file.MAX_COPY``; a patch's offsets lie
  inside the file's recorded size, which must be the file's size.
* ``read_manifest`` validates a manifest whole into ``BackupEntry`` records before anything is done: only
  files that repair writes (``actions.ACTIONS``: ``scheduler*.bin``, ``optimizer*.bin``,
  ``training_state*.json``), each once, with an action repair takes on that file. Anything else and the
  backup is refused (exit 3) with nothing touched.
* Undo goes through each action class (``RepairAction.restore_backup``); a created file is removed only when
  its SHA-256 is the one repair recorded.
* No text of a manifest is printed: messages name validated fields only and show anything else escaped.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any, Literal

from ckptfix.errors import CkptfixError, LockHeld, RepairFailed, UnreadableFile, UsageError
from ckptfix.exitcodes import worst
from ckptfix.formats.source.durable import FileId, Folder
from ckptfix.model.checkpoint import Discovery
from ckptfix.model.discover import discover, targets
from ckptfix.model.leftovers import BACKUP_DIR, TMP_FILE, WORK_DIR
from ckptfix.records import Record
from ckptfix.repair.actions import ACTIONS, ActionKind, BackupEntry, Fault, RepairAction, action_for, read_entry
from ckptfix.repair.lock import acquire_lock, release_lock
from ckptfix.repair.workdir import utc_stamp
from ckptfix.text import shown

__all__ = [
    "MANIFEST", "MAX_BACKUPS", "MAX_DEPTH", "MAX_MANIFEST_BYTES", "RESTORED_MARK", "Backup", "CheckpointBackups",
    "FileCheck", "FileState", "ListOutcome", "PruneOutcome", "PruneResult", "RestoreOutcome", "RestoreResult",
    "RestoreStatus", "list_path", "prune_checkpoint", "prune_path", "read_backups", "read_manifest",
    "restore_checkpoint", "restore_path",
]

MANIFEST = "manifest.json"
RESTORED_MARK = "restored.json"
#: A manifest lists a few files with their hashes (about 2 KB; an optimizer patch adds ~150 bytes per value).
MAX_MANIFEST_BYTES = 1 << 20
#: Containers inside containers in a manifest (its own layout uses 6: files, entry, changes, change, fixes).
MAX_DEPTH = 8
#: Backup folders read in one checkpoint (one per repair: a real checkpoint has a handful).
MAX_BACKUPS = 256
_MAX_MARK = 4096
_MAX_ENTRIES = 64
_STAMP = re.compile(r"^\d{8}T\d{6}\.\d{6}Z$")
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')

#: Where a file stands against one backup: as the repair left it, as it was before, changed since, or
#: replaced by what ckptfix does not read (a symlink, FIFO, device or folder).
FileState = Literal["repaired", "original", "changed", "unsafe"]
#: What became of one checkpoint's restore.
RestoreStatus = Literal["restored", "already", "dry-run", "refused", "unreadable", "failed", "locked", "none"]
#: What became of one checkpoint's prune.
PruneStatus = Literal["pruned", "dry-run", "nothing", "unreadable", "failed", "locked"]


class Backup(Record):
    """One ``.ckptfix/backup-*`` folder: what the repair changed, and whether it was restored since."""

    path: Path
    entries: tuple[BackupEntry, ...] = ()
    restored: str | None = None  # UTC time of the restore that undid it (from a valid restored.json)
    problem: str | None = None  # why it cannot be used: it is refused (exit 3)
    incomplete: bool = False  # no manifest.json: a repair stopped before it changed anything

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def pending(self) -> bool:
        """A repair ``restore`` may undo: complete, not restored yet (a backup with a problem counts: it is refused)."""
        return not self.incomplete and self.restored is None


class FileCheck(Record):
    """Where one file of a backup stands now."""

    file: str
    kind: ActionKind
    state: FileState
    why: str | None = None  # a changed or unsafe file: what is wrong with it
    created: bool = False  # the repair created the file (undone by removing it)
    identity: FileId | None = None  # of the file hashed: restore replaces that file only


class CheckpointBackups(Record):
    """A checkpoint's backups (oldest first), and where the files of the one ``restore`` would undo stand."""

    checkpoint: Path
    backups: tuple[Backup, ...] = ()
    problem: str | None = None  # .ckptfix itself cannot be used (a symlink, not a folder, too many backups)
    last: tuple[FileCheck, ...] = ()  # the files of ``next``, checked now (``list_path`` only)

    @property
    def next(self) -> Backup | None:
        """The backup ``restore`` undoes: the newest one not restored yet."""
        return next((b for b in reversed(self.backups) if b.pending), None)

    @property
    def exit_code(self) -> int:
        return 3 if self.problem is not None or any(b.problem for b in self.backups) else 0


class RestoreResult(Record):
    """What ``restore`` did (or would do) to one checkpoint."""

    checkpoint: Path
    status: RestoreStatus
    backup: Backup | None = None
    files: tuple[FileCheck, ...] = ()
    restored: tuple[str, ...] = ()  # the names of the files put back
    error: str | None = None

    @property
    def exit_code(self) -> int:
        if self.status in ("restored", "already", "dry-run", "none"):
            return 0
        return 3 if self.status == "unreadable" else 1


class RestoreOutcome(Record):
    """``restore`` on one PATH: every checkpoint's result, and the exit code."""

    disc: Discovery
    items: tuple[RestoreResult, ...]
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        return worst(i.exit_code for i in self.items)

    @property
    def nothing_to_restore(self) -> bool:
        return all(i.status in ("none", "already") for i in self.items)


class ListOutcome(Record):
    """``restore --list`` on one PATH."""

    disc: Discovery
    items: tuple[CheckpointBackups, ...]

    @property
    def exit_code(self) -> int:
        return worst(i.exit_code for i in self.items)


class PruneResult(Record):
    """What ``restore --prune`` did (or would do) to one checkpoint's backups."""

    checkpoint: Path
    status: PruneStatus
    removed: tuple[str, ...] = ()  # backup names removed (or, with --dry-run, that would be)
    kept: tuple[str, ...] = ()  # ckptfix's own backups kept (the newest)
    left: tuple[tuple[str, str], ...] = ()  # (backup name, why): not provably ckptfix's, left alone
    error: str | None = None

    @property
    def exit_code(self) -> int:
        if self.status == "unreadable":
            return 3
        return 1 if self.status in ("failed", "locked") else 0


class PruneOutcome(Record):
    """``restore --prune`` on one PATH."""

    disc: Discovery
    items: tuple[PruneResult, ...]
    keep: int
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        return worst(i.exit_code for i in self.items)


# --- reading: the manifest, the backups -----------------------------------------------------------------


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a JSON object holds the key {shown(next(k for k in keys if keys.count(k) > 1))} twice")
    return dict(pairs)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"it holds {name}, which is not JSON")


def _nesting(text: str) -> int:
    """How deep containers nest in the JSON ``text``, counted before it is parsed (strings skipped); stops
    counting beyond ``MAX_DEPTH``."""
    depth = peak = 0
    for m in _TOKENS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return depth
            peak = max(peak, depth)
        elif c in "]}":
            depth -= 1
    return peak


def read_manifest(data: bytes) -> tuple[BackupEntry, ...]:
    """A backup's ``manifest.json``, validated whole into one ``BackupEntry`` per file (in the repair's order):
    UTF-8 JSON, nested at most ``MAX_DEPTH`` deep, no key twice, an object whose ``files`` lists 1 to 64
    entries, each a file repair writes (``actions.read_entry``), each file once. ``ValueError`` saying what
    is wrong, naming the entry (values shown escaped)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ValueError(f"it is larger than {MAX_MANIFEST_BYTES:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8 text") from None
    if _nesting(text) > MAX_DEPTH:
        raise ValueError(f"it nests containers more than {MAX_DEPTH} deep")
    try:
        manifest = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_refuse_constant)
    except RecursionError:  # not reached after _nesting; kept so that no input can make it exit 5
        raise ValueError("it nests containers too deeply") from None
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN, an integer beyond 4,300 digits
        raise ValueError(f"it is not valid JSON ({shown(str(exc), 160)[1:-1]})") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if type(files) is not list or not 0 < len(files) <= _MAX_ENTRIES:
        raise ValueError(f"it does not list the files the repair changed (\"files\": 1 to {_MAX_ENTRIES} entries)")
    entries: list[BackupEntry] = []
    for i, raw in enumerate(files, 1):
        try:
            entry = read_entry(raw, ACTIONS)
        except ValueError as exc:
            raise ValueError(f"entry {i}: {exc}") from None
        if any(e.file == entry.file for e in entries):
            raise ValueError(f"entry {i}: {entry.file} is listed twice")
        entries.append(entry)
    return tuple(entries)


def _read_mark(backup: Folder) -> str | None:
    """The time in a valid ``restored.json`` (written by ``restore``); None when there is none or it is not one."""
    try:
        mark = json.loads(backup.read(RESTORED_MARK, _MAX_MARK, "restored mark"))
    except (UnreadableFile, ValueError, RecursionError):
        return None
    time = mark.get("time") if isinstance(mark, dict) else None
    return time if isinstance(time, str) and _STAMP.match(time) else None


def _read_backup(work: Folder, name: str) -> Backup:
    path = work.path / name
    try:
        with work.sub(name) as folder:
            restored = _read_mark(folder)
            if folder.lstat(MANIFEST) is None:
                return Backup(path, restored=restored, incomplete=True)
            try:
                entries = read_manifest(folder.read(MANIFEST, MAX_MANIFEST_BYTES, "manifest"))
            except UnreadableFile as exc:
                return Backup(path, restored=restored, problem=f"{MANIFEST}: {exc.problem}")
            except ValueError as exc:
                return Backup(path, restored=restored, problem=f"{MANIFEST} is not one ckptfix repair writes: {exc}")
            return Backup(path, entries, restored, _backup_problem(folder, entries))
    except UnreadableFile as exc:
        return Backup(path, problem=f"{exc.problem}: not a backup folder ckptfix wrote")


def _action(e: BackupEntry) -> type[RepairAction]:
    """The action class that wrote the file of a validated entry (``read_manifest`` found it)."""
    action = action_for(e.file, ACTIONS)
    assert action is not None
    return action


def _backup_problem(folder: Folder, entries: tuple[BackupEntry, ...]) -> str | None:
    """Why the backup folder cannot undo its manifest's entries (``RepairAction.check_backup``); None: it can."""
    for e in entries:
        try:
            _action(e).check_backup(e, folder)
        except UnreadableFile as exc:
            return f"{e.file}: {exc.problem} (the backup's copy)"
        except ValueError as exc:
            return str(exc)
    return None


def read_backups(checkpoint: Path) -> CheckpointBackups:
    """The checkpoint's backups, oldest first (their names are UTC times): each manifest validated, nothing
    followed through a symlink, nothing written."""
    try:
        with Folder.open(checkpoint) as ck:
            if ck.lstat(WORK_DIR) is None:
                return CheckpointBackups(checkpoint)
            with ck.sub(WORK_DIR) as work:
                names = [n for n in work.names() if BACKUP_DIR.match(n)]
                if len(names) > MAX_BACKUPS:
                    return CheckpointBackups(checkpoint, problem=f"{checkpoint / WORK_DIR} holds {len(names):,} backup "
                                             f"folders, more than the {MAX_BACKUPS} ckptfix reads")
                return CheckpointBackups(checkpoint, tuple(_read_backup(work, n) for n in names))
    except UnreadableFile as exc:
        return CheckpointBackups(checkpoint, problem=f"{exc}: not ckptfix's own folder; nothing under it is used")
    except OSError as exc:
        return CheckpointBackups(checkpoint, problem=f"{checkpoint / WORK_DIR}: cannot be listed ({exc.strerror or exc})")


def _check(ck: Folder, e: BackupEntry) -> FileCheck:
    """Where the file of entry ``e`` stands now (read and hashed through ``ck``; never through a symlink)."""
    created = e.sha256 is None
    st = ck.lstat(e.file)
    if st is None:
        if created:  # a created file that is gone again
            return FileCheck(e.file, e.kind, "original", created=True)
        return FileCheck(e.file, e.kind, "changed", "missing", created)
    if not stat.S_ISREG(st.st_mode):
        what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        return FileCheck(e.file, e.kind, "unsafe", f"{what}: ckptfix neither reads nor replaces it", created)
    if e.size is not None and st.st_size != e.size:
        return FileCheck(e.file, e.kind, "changed", "neither the repaired file nor the original: its size differs",
                         created)
    try:
        digest, ident = ck.sha256(e.file)
    except UnreadableFile as exc:
        return FileCheck(e.file, e.kind, "unsafe", f"{exc.problem}", created)
    if e.sha256_new is not None and digest == e.sha256_new:
        return FileCheck(e.file, e.kind, "repaired", created=created, identity=ident)
    if digest == e.sha256:
        return FileCheck(e.file, e.kind, "original", created=created, identity=ident)
    return FileCheck(e.file, e.kind, "changed", "neither the repaired file nor the original", created)


def _checks(ck: Folder, backup: Backup) -> tuple[FileCheck, ...]:
    return tuple(_check(ck, e) for e in backup.entries)


def _by_hand(backup: Backup, e: BackupEntry) -> str:
    """How to undo one file by hand, built from validated names only (never a manifest's own text)."""
    if e.sha256 is None:
        return f"rm {e.file}"
    return f"cp {WORK_DIR}/{backup.name}/{e.file} {e.file}"


def _refusal(checks: tuple[FileCheck, ...], backup: Backup) -> tuple[RestoreStatus, str] | None:
    """Why ``backup`` cannot be restored as the files stand (status and message); None when it can."""
    bad = [(c, e) for c, e in zip(checks, backup.entries) if c.state in ("changed", "unsafe")]
    if not bad:
        return None
    parts = []
    for c, e in bad:
        if c.state == "changed" and e.sha256_new is None and c.why != "missing":
            parts.append(f"{c.file}: the backup does not record the repaired file's SHA-256 (made by an older "
                         f"ckptfix), so ckptfix cannot tell whether it changed since; restore it by hand, from "
                         f"the checkpoint folder: {_by_hand(backup, e)}")
        else:
            parts.append(f"{c.file} is {c.why}" + (" (changed since the repair)" if c.state == "changed" else ""))
    status: RestoreStatus = "unreadable" if any(c.state == "unsafe" for c, _ in bad) else "refused"
    return status, "; ".join(parts) + ": nothing restored"


# --- restore ---------------------------------------------------------------------------------------------


def _no_fault(stage: str, path: Path) -> None:
    pass


def _pick(found: CheckpointBackups, name: str | None) -> Backup | None:
    if name is not None:
        return next((b for b in found.backups if b.name == name), None)
    return found.next


def _undo(ck: Folder, backup: Folder, e: BackupEntry, expect: FileId) -> FileCheck:
    """Put the original of ``e`` back; where the file then stands (read and hashed once: the result's)."""
    _action(e).restore_backup(e, ck, backup, expect)
    after = _check(ck, e)
    if after.state != "original":
        raise RepairFailed(f"{ck.path / e.file}: not the original after restoring")
    return after


def _mark(backup: Folder) -> None:
    backup.write_atomic(RESTORED_MARK, (json.dumps({"time": utc_stamp(), "by": "ckptfix restore"}) + "\n").encode())


def restore_checkpoint(checkpoint: Path, backup_name: str | None = None, dry_run: bool = False,
                       fault: Fault | None = None) -> RestoreResult:
    """Undo the last repair of ``checkpoint`` (or the one in ``backup_name``). Never raises for restore
    failures: see ``RestoreResult``. ``fault`` is a test hook called at ``lock``, ``restore`` (each file)
    and ``mark``."""
    hook = fault or _no_fault
    found = read_backups(checkpoint)
    if found.problem is not None:
        return RestoreResult(checkpoint, "unreadable", error=found.problem)
    backup = _pick(found, backup_name)
    if backup is None:
        if backup_name is not None:
            return RestoreResult(checkpoint, "none", error=f"no backup named {shown(backup_name)} in {checkpoint / WORK_DIR}")
        if any(not b.incomplete for b in found.backups):
            return RestoreResult(checkpoint, "already", error="every backup was restored already")
        return RestoreResult(checkpoint, "none", error="no backup: ckptfix never repaired this checkpoint")
    if backup.problem is not None:
        return RestoreResult(checkpoint, "unreadable", backup, error=f"{backup.name}: {backup.problem}; nothing restored "
                             f"(move it out of {WORK_DIR}/ to restore an earlier backup)")
    if backup.incomplete:
        return RestoreResult(checkpoint, "already", backup, error=f"{backup.name} is incomplete: the repair stopped "
                             "before it changed anything")
    try:
        with Folder.open(checkpoint) as ck:
            return _restore(ck, backup, dry_run, hook)
    except UnreadableFile as exc:
        return RestoreResult(checkpoint, "unreadable", backup, error=str(exc))


def _restore(ck: Folder, backup: Backup, dry_run: bool, hook: Fault) -> RestoreResult:
    checkpoint = ck.path
    checks = _checks(ck, backup)
    why = _refusal(checks, backup)
    if why is not None:
        return RestoreResult(checkpoint, why[0], backup, checks, error=why[1])
    todo = [(e, c) for e, c in zip(backup.entries, checks) if c.state == "repaired"]
    if dry_run:
        return RestoreResult(checkpoint, "dry-run" if todo else "already", backup, checks)
    try:
        hook("lock", checkpoint)
        lock = acquire_lock(checkpoint)
    except LockHeld as exc:
        return RestoreResult(checkpoint, "locked", backup, checks, error=str(exc))
    except Exception as exc:  # nothing was written yet
        return RestoreResult(checkpoint, "failed", backup, checks, error=str(exc))
    done: list[str] = []
    try:
        with ck.sub(WORK_DIR) as work, work.sub(backup.name) as folder:
            # again under the lock: a repair may have finished between the check and the lock
            checks = _checks(ck, backup)
            now = {c.file: c for c in checks}
            if _refusal(checks, backup) is not None or any(now[e.file].state != "repaired" for e, _c in todo):
                return RestoreResult(checkpoint, "refused", backup, checks,
                                     error="files changed while restoring started; nothing restored")
            for e, _c in reversed(todo):
                hook("restore", checkpoint / e.file)
                ident = now[e.file].identity
                assert ident is not None  # a repaired file was hashed
                now[e.file] = _undo(ck, folder, e, ident)
                done.append(e.file)
            hook("mark", folder.path)
            _mark(folder)
    except Exception as exc:  # each file is the original or the repaired one: say which
        error = str(exc) if isinstance(exc, CkptfixError) else f"{type(exc).__name__}: {exc}"
        return RestoreResult(checkpoint, "failed", backup, _checks(ck, backup), tuple(done), error)
    finally:
        release_lock(lock)
    status: RestoreStatus = "restored" if done else "already"
    # each file as it stands: the restored ones checked right after their restore, the others under the lock
    return RestoreResult(checkpoint, status, backup, tuple(now[e.file] for e in backup.entries), tuple(done))


def _chosen(path: Path, latest_only: bool) -> tuple[Discovery, tuple[Path, ...]]:
    disc = discover(path)
    return disc, tuple(targets(disc, latest_only))


def restore_path(path: Path, latest_only: bool = False, backup_name: str | None = None,
                 dry_run: bool = False, fault: Fault | None = None) -> RestoreOutcome:
    """Restore every checkpoint under ``path`` that has a backup (or only the latest). ``UsageError`` for a
    bad PATH, for ``backup_name`` on several checkpoints or naming no backup. Nothing to restore is not an
    error: the results say ``none`` (no backup) or ``already``."""
    if backup_name is not None and not BACKUP_DIR.match(backup_name):
        raise UsageError(f"--backup {shown(backup_name)}: not a backup name (backup-<UTC time>, as --list shows)")
    disc, chosen = _chosen(path, latest_only)
    if backup_name is not None and len(chosen) != 1:
        raise UsageError(f"--backup names one backup: give one checkpoint folder, not {path} "
                         f"({len(chosen)} checkpoints)")
    items = tuple(restore_checkpoint(ck, backup_name, dry_run, fault) for ck in chosen)
    if backup_name is not None and items and items[0].status == "none":
        raise UsageError(f"{items[0].error}; ckptfix restore {chosen[0]} --list shows them")
    return RestoreOutcome(disc, items, dry_run)


# --- list ------------------------------------------------------------------------------------------------


def list_path(path: Path, latest_only: bool = False) -> ListOutcome:
    """Every backup of each checkpoint under ``path`` (or the latest), with where the files of the one
    ``restore`` would undo stand now. Reads and hashes; writes nothing."""
    disc, chosen = _chosen(path, latest_only)
    items = []
    for ck in chosen:
        found = read_backups(ck)
        nxt = found.next
        if nxt is not None and nxt.problem is None:
            try:
                with Folder.open(ck) as folder:
                    found = CheckpointBackups(ck, found.backups, found.problem, _checks(folder, nxt))
            except UnreadableFile as exc:
                found = CheckpointBackups(ck, found.backups, str(exc))
        items.append(found)
    return ListOutcome(disc, tuple(items))


# --- prune -----------------------------------------------------------------------------------------------


def _foreign(folder: Folder, backup: Backup) -> str | None:
    """Why the backup folder holds something repair and restore never write there (None: nothing else)."""
    own = {MANIFEST, RESTORED_MARK}
    for e in backup.entries:
        own.update(_action(e).backup_files(e))
    other = 0
    for name in folder.names():
        st = folder.lstat(name)
        if st is None:
            continue
        if not stat.S_ISREG(st.st_mode) or (name not in own and not TMP_FILE.match(name)):
            other += 1
    return f"it holds {other} file(s) or folder(s) ckptfix did not write" if other else None


def _check_removable(work: Folder, backup: Backup) -> str | None:
    """Why the backup folder may not be removed (None: it holds only ckptfix's files)."""
    with work.sub(backup.name) as folder:
        return _foreign(folder, backup)


def _remove(work: Folder, backup: Backup) -> str | None:
    """Remove the backup folder if it holds only ckptfix's files; why not otherwise (nothing removed then)."""
    with work.sub(backup.name) as folder:
        why = _foreign(folder, backup)
        if why is not None:
            return why
        for name in folder.names():
            folder.unlink(name)
    work.rmdir(backup.name)
    return None


def prune_checkpoint(checkpoint: Path, keep: int, dry_run: bool = False) -> PruneResult:
    """Remove the checkpoint's backups except the ``keep`` newest: only ``backup-<UTC time>`` folders whose
    manifest validates and that hold only what ckptfix writes there; anything else is left alone and said.
    Under the repair lock; with ``dry_run`` the same checks, nothing removed."""
    found = read_backups(checkpoint)
    if found.problem is not None:
        return PruneResult(checkpoint, "unreadable", error=found.problem)
    own = [b for b in found.backups if b.problem is None and not b.incomplete]
    left = [(b.name, b.problem or "incomplete (no manifest.json): repair removes it") for b in found.backups
            if b.problem is not None or b.incomplete]
    cut = max(len(own) - keep, 0)
    old, kept = own[:cut], tuple(b.name for b in own[cut:])
    if not old:
        return PruneResult(checkpoint, "nothing", (), kept, tuple(left))
    removed: list[str] = []
    try:
        with Folder.open(checkpoint) as ck, ck.sub(WORK_DIR) as work:
            lock = None if dry_run else acquire_lock(checkpoint)
            try:
                for b in old:
                    why = _check_removable(work, b) if dry_run else _remove(work, b)
                    if why is None:
                        removed.append(b.name)
                    else:
                        left.append((b.name, why))
            finally:
                if lock is not None:
                    release_lock(lock)
    except LockHeld as exc:
        return PruneResult(checkpoint, "locked", (), kept, tuple(left), str(exc))
    except UnreadableFile as exc:
        return PruneResult(checkpoint, "unreadable", tuple(removed), kept, tuple(left), str(exc))
    except (OSError, CkptfixError) as exc:
        error = str(exc) if isinstance(exc, CkptfixError) else f"{exc.strerror or exc}"
        return PruneResult(checkpoint, "failed", tuple(removed), kept, tuple(left), error)
    status: PruneStatus = ("dry-run" if dry_run else "pruned") if removed else "nothing"
    return PruneResult(checkpoint, status, tuple(removed), kept, tuple(left))


def prune_path(path: Path, keep: int, latest_only: bool = False, dry_run: bool = False) -> PruneOutcome:
    """``prune_checkpoint`` for every checkpoint under ``path`` (or the latest)."""
    disc, chosen = _chosen(path, latest_only)
    return PruneOutcome(disc, tuple(prune_checkpoint(ck, keep, dry_run) for ck in chosen), keep, dry_run)
