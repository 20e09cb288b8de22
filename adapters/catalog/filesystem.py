"""Where the catalog may live: a local filesystem (WAL needs shared memory between processes)."""

from __future__ import annotations

from pathlib import Path

from eoharvest.domain.errors import UnsupportedEnvironment

# Filesystem types whose locking/shared memory SQLite's WAL mode cannot rely on.
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb", "smb2", "smbfs", "ncpfs", "afs", "9p", "ceph",
        "glusterfs", "fuse.sshfs", "fuse.glusterfs", "fuse.rclone", "fuse.s3fs", "lustre",
        "gpfs", "davfs", "fuse.davfs2",
    }
)  # fmt: skip


def _unescape(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal (\040 ...).
    return field.encode().decode("unicode_escape") if "\\" in field else field


def filesystem_type(path: Path, mounts_file: Path | str = "/proc/mounts") -> str | None:
    """The filesystem type of the mount holding ``path`` (longest mount-point prefix)."""
    try:
        lines = Path(mounts_file).read_text().splitlines()
    except OSError:
        return None
    resolved = path.resolve()
    best: tuple[int, str] | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point, fs_type = Path(_unescape(fields[1])), fields[2]
        if resolved == mount_point or mount_point in resolved.parents:
            depth = len(mount_point.parts)
            if best is None or depth >= best[0]:
                best = (depth, fs_type)
    return best[1] if best else None


def ensure_local_filesystem(path: Path, mounts_file: Path | str = "/proc/mounts") -> None:
    """Raise UnsupportedEnvironment when ``path`` is on a network filesystem."""
    fs_type = filesystem_type(path, mounts_file)
    if fs_type is None:
        return
    if fs_type.lower() in NETWORK_FILESYSTEMS or fs_type.lower().startswith(("nfs", "smb")):
        raise UnsupportedEnvironment(
            f"catalog {str(path)!r} is on a {fs_type} network filesystem; "
            "WAL needs a local filesystem",
            hint="put the catalog on a local disk (--catalog or EOHARVEST_CATALOG)",
        )
