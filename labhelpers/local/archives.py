"""Zip archives for artifacts: safe extraction into a folder and deterministic zipping of a folder.

Both the build and the deploy engines unzip artifacts that a learner's build produced, so
extraction refuses any entry that would land outside its destination folder.
"""

import io
import os
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

StrPath = str | os.PathLike


class ArchiveError(ValueError):
    """A zip archive (or a file list to zip) that would escape its folder or is otherwise unusable."""


def extract_zip(archive: StrPath | bytes, dest: StrPath) -> list[str]:
    """Extract `archive` (a path or the zip's bytes) into `dest`; return the files and links written.

    Every entry is checked before anything is written, so a hostile archive extracts nothing.
    Unix permission bits stored in the archive (the exec bit of scripts) are restored.
    """
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    source = io.BytesIO(archive) if isinstance(archive, bytes | bytearray) else archive
    try:
        with zipfile.ZipFile(source) as zf:
            entries = [(_safe_name(info), info) for info in zf.infolist()]
            for name, info in entries:
                if _is_symlink(info):
                    _check_link_target(name, zf.read(info).decode(), root)
            return [written for name, info in entries if (written := _extract_entry(zf, info, name, root))]
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"not a zip archive: {exc}") from exc


def zip_dir(folder: StrPath, *, files: Iterable[str | tuple[str, StrPath]] | None = None) -> bytes:
    """Zip files of `folder` and return the archive's bytes, entries sorted by name.

    `files` defaults to every file under `folder`. Otherwise each item is a path relative to `folder`,
    or a pair (name in the archive, file path); a relative file path is taken from `folder`.
    Unix permission bits are stored; directories get no entries of their own. A symbolic link is stored
    as a link (as `zip --symlinks` does); one that leads outside `folder` is refused, never followed.
    """
    base = Path(folder)
    if files is None:
        pairs = [(path.relative_to(base).as_posix(), path) for path in _files_under(base)]
    else:
        pairs = [
            (item, base / item) if isinstance(item, str) else (item[0], base / item[1]) for item in files
        ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, strict_timestamps=False) as zf:
        seen = set()
        for arcname, path in sorted(pairs, key=lambda pair: pair[0]):
            name = _safe_name_text(arcname)
            if name in seen:
                raise ArchiveError(f"two files would be stored as {name!r} in the zip")
            seen.add(name)
            checked_file(path, base, name)
            if Path(path).is_symlink():
                link = zipfile.ZipInfo(name)
                link.create_system, link.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
                zf.writestr(link, os.readlink(path))
            else:
                zf.write(path, name)
    return buffer.getvalue()


def checked_file(path: StrPath, folder: StrPath, name: str) -> None:
    """Refuse a file that is, or lies in, a symbolic link leading outside `folder` (a file named outside
    `folder` on purpose is the caller's choice)."""
    real = os.path.realpath(path)
    if real != os.path.abspath(path) and not _is_inside(real, Path(folder).resolve()):
        raise ArchiveError(
            f"refusing {name!r}: it is a symbolic link (or lies in one) that leads outside the artifact's "
            f"folder, to {real}. Artifacts never carry files from outside their folder: "
            "copy the file into the build's folder instead."
        )


def _files_under(folder: Path) -> list[Path]:
    """Regular files (and links to files) under `folder`, without following directory links."""
    found = []
    for dirpath, _dirnames, filenames in os.walk(folder):
        found.extend(path for name in filenames if (path := Path(dirpath, name)).is_file())
    return found


def _safe_name(info: zipfile.ZipInfo) -> str:
    return _safe_name_text(info.filename) + ("/" if info.is_dir() else "")


def _safe_name_text(raw: str) -> str:
    """The entry name with '/' separators, refusing names that could leave the destination folder."""
    name = raw.replace("\\", "/")
    if not name.strip("/") or "\0" in name:
        raise ArchiveError(f"refusing zip entry {raw!r}: empty or invalid name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"refusing zip entry {raw!r}: absolute path")
    parts = [part for part in PurePosixPath(name).parts if part != "."]
    if ".." in parts:
        raise ArchiveError(f"refusing zip entry {raw!r}: '..' would leave the destination folder")
    return "/".join(parts)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _check_link_target(name: str, target: str, root: Path) -> None:
    resolved = os.path.normpath(os.path.join(root, os.path.dirname(name), target))
    if os.path.isabs(target) or not _is_inside(resolved, root):
        raise ArchiveError(f"refusing zip entry {name!r}: symlink to {target!r} points outside the folder")


def _is_inside(path: str, root: Path) -> bool:
    return os.path.commonpath([str(root), path]) == str(root)


def _extract_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, root: Path) -> str | None:
    """Write one checked entry; return its name for files and links, None for directories."""
    target = root / name
    # Earlier entries may have created links: the real parent folder must still be inside root.
    if not _is_inside(os.path.realpath(target.parent), root):
        raise ArchiveError(f"refusing zip entry {name!r}: its folder is a link that leaves the destination")
    if name.endswith("/"):
        target.mkdir(parents=True, exist_ok=True)
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        target.unlink()
    if _is_symlink(info):
        os.symlink(zf.read(info).decode(), target)
        if not _is_inside(os.path.realpath(target), root):  # e.g. through a link to "." and then ".."
            target.unlink()
            raise ArchiveError(f"refusing zip entry {name!r}: symlink resolves outside the folder")
        return name
    with zf.open(info) as src, open(target, "wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
    mode = stat.S_IMODE(info.external_attr >> 16) & 0o777
    if mode:
        os.chmod(target, mode)
    return name
