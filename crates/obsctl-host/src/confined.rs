//! Deleting a file below a root without ever leaving it: the path is walked from the root by
//! directory handles opened with `O_NOFOLLOW`, each checked to be on the root's filesystem, and
//! the file is removed with `unlinkat` relative to its folder's handle. A folder swapped for a
//! symlink mid-way fails the walk instead of leading it elsewhere.

use std::io;
use std::path::{Component, Path};

#[cfg(unix)]
pub fn delete_file_below(root: &Path, relative: &Path) -> io::Result<u64> {
    use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, fstat, openat, statat, unlinkat};

    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut names = Vec::new();
    for c in relative.components() {
        match c {
            Component::Normal(name) => names.push(name),
            _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a plain path below the root")),
        }
    }
    let Some((file, folders)) = names.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "an empty path"));
    };
    let mut dir = openat(CWD, root, dir_flags, Mode::empty())?;
    let device = fstat(&dir)?.st_dev;
    let elsewhere = || io::Error::other("crosses onto another filesystem; refused");
    for name in folders {
        dir = openat(&dir, *name, dir_flags, Mode::empty())
            .map_err(|e| io::Error::other(format!("{}: not a folder any more ({e})", name.to_string_lossy())))?;
        if fstat(&dir)?.st_dev != device {
            return Err(elsewhere());
        }
    }
    let stat = statat(&dir, *file, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(io::Error::other("not a regular file any more"));
    }
    if stat.st_dev != device {
        return Err(elsewhere());
    }
    // Should the name be swapped now, unlinkat removes whatever is at that name inside this
    // folder (a symlink itself, never its target) or fails on a folder.
    unlinkat(&dir, *file, AtFlags::empty())?;
    Ok(u64::try_from(stat.st_size).unwrap_or(0))
}

#[cfg(not(unix))]
pub fn delete_file_below(_root: &Path, _relative: &Path) -> io::Result<u64> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "confined deletion needs a Unix system"))
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn deletes_only_regular_files_below_the_root() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("a")).unwrap();
        std::fs::write(root.path().join("a/f"), b"12345").unwrap();
        std::fs::write(outside.path().join("f"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
        assert_eq!(delete_file_below(root.path(), Path::new("a/f")).unwrap(), 5);
        assert!(!root.path().join("a/f").exists());
        // Through a symlinked folder, `..`, absolute paths and folders: refused.
        assert!(delete_file_below(root.path(), Path::new("link/f")).is_err());
        assert!(delete_file_below(root.path(), Path::new("a/../link/f")).is_err());
        assert!(delete_file_below(root.path(), &outside.path().join("f")).is_err());
        assert!(delete_file_below(root.path(), Path::new("a")).is_err());
        assert!(outside.path().join("f").exists());
    }
}
