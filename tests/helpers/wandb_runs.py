"""Reads offline wandb runs (`offline-run-*` directories), so tests can check a run's config, metrics and identity
without syncing it to a server."""

from __future__ import annotations

import json
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A run's `run-<id>.wandb` file is a LevelDB-style log: a 7-byte header (":W&B", 0xBEE1, version 0), then 32 KiB blocks
# of records, each a 7-byte header (crc32, length, type) and a chunk; types FULL/FIRST/MIDDLE/LAST join long records.
_FILE_HEADER = struct.Struct("<4sHB")
_RECORD_HEADER = struct.Struct("<IHB")
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """What an offline wandb run holds, as `wandb sync` would upload it."""

    path: Path
    run_id: str = ""
    project: str = ""
    name: str = ""
    group: str = ""
    tags: list[str] = field(default_factory=list)
    resumed: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None

    def metric(self, key: str) -> list[Any]:
        """Every logged value of `key`, in order."""
        return [row[key] for row in self.history if key in row]

    def media(self) -> list[Path]:
        return sorted((self.path / "files" / "media").rglob("*.*")) if (self.path / "files" / "media").is_dir() else []


def offline_runs(root: str | os.PathLike) -> list[Path]:
    """Offline run directories under `root` (a save_dir, its `wandb/` folder, or anything above), oldest first."""
    return sorted(Path(root).rglob("offline-run-*"), key=lambda p: p.name)


def read_offline_run(run_dir: str | os.PathLike, wait_s: float = 0.0) -> OfflineRun:
    """Config (nested, without `_wandb`), history rows, summary and identity of an offline run directory.

    wandb's service process writes the file in blocks and may still be flushing just after `wandb.finish()` returns:
    `wait_s` > 0 polls until the run's exit record is there (or the time is up).
    """
    run_dir = Path(run_dir)
    files = list(run_dir.glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"{run_dir} holds no run-*.wandb file; pass an offline-run-* directory")
    deadline = time.monotonic() + wait_s
    while True:
        run = _parse_run(run_dir, files[0])
        if run.exit_code is not None or time.monotonic() >= deadline:
            return run
        time.sleep(0.1)


def _parse_run(run_dir: Path, path: Path) -> OfflineRun:
    from wandb.proto import wandb_internal_pb2 as pb

    run = OfflineRun(path=run_dir)
    for data in _log_records(path):
        record = pb.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            info = record.run
            run.run_id, run.project, run.name, run.group = info.run_id, info.project, info.display_name, info.run_group
            run.tags, run.resumed = list(info.tags), info.resumed
            _apply(run.config, info.config.update)
        elif kind == "config":
            _apply(run.config, record.config.update)
            for item in record.config.remove:
                run.config.pop(item.key, None)
        elif kind == "history":
            row: dict[str, Any] = {}
            _apply(row, record.history.item)
            run.history.append(row)
        elif kind == "summary":
            _apply(run.summary, record.summary.update)
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    run.config.pop("_wandb", None)
    return run


def _log_records(path: Path):
    data = path.read_bytes()
    ident, magic, _ = _FILE_HEADER.unpack_from(data)
    if ident != b":W&B" or magic != 0xBEE1:
        raise ValueError(f"{path} is not a wandb run file (header {ident!r})")
    position, pending = _FILE_HEADER.size, b""
    while position + _RECORD_HEADER.size <= len(data):
        left_in_block = _BLOCK - position % _BLOCK
        if left_in_block < _RECORD_HEADER.size:
            position += left_in_block
            continue
        _, length, kind = _RECORD_HEADER.unpack_from(data, position)
        position += _RECORD_HEADER.size
        chunk = data[position : position + length]
        position += length
        if len(chunk) < length or kind not in (_FULL, _FIRST, _MIDDLE, _LAST):
            return  # a record still being written, or zero padding at the end
        if kind == _FULL:
            yield chunk
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        else:
            yield pending + chunk
            pending = b""


def _apply(target: dict[str, Any], items) -> None:
    for item in items:
        keys = list(item.nested_key) or [item.key]
        node = target
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = _item_value(item)


def _item_value(item) -> Any:
    if item.value_json:
        return json.loads(item.value_json)
    kind = item.WhichOneof("value") if "value" in item.DESCRIPTOR.oneofs_by_name else None
    if kind is None or kind == "none":
        return None
    value = getattr(item, kind)
    return json.loads(value) if kind == "json" else value
