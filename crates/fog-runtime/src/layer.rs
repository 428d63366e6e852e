//! Image layers: verified by digest (compressed and uncompressed) and applied
//! to a root filesystem with OCI whiteouts, never writing outside the root.
//!
//! A layer is untrusted input. Every path is resolved inside the root the
//! way the kernel's `openat2(RESOLVE_IN_ROOT)` would: absolute symlink
//! targets count from the root, and a `..` or a symlink that would climb
//! above the root refuses the whole layer. Absolute entry paths, `..`
//! components, device nodes and hardlinks to anything but a regular file
//! already inside the root are refused too.

use std::{
    collections::HashSet,
    fs::{self, File},
    io::{self, Read},
    path::{Component, Path, PathBuf},
};

use sha2::{Digest as _, Sha256};

/// A content digest, `sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Parses `sha256:<hex>`.
    pub fn parse(s: &str) -> Result<Self, LayerError> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| LayerError::BadDigest(s.to_owned()))?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex, &mut bytes).map_err(|_| LayerError::BadDigest(s.to_owned()))?;
        Ok(Self(bytes))
    }

    /// A digest from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// A gzipped tar.
    Gzip,
}

/// A layer as the image manifest and config describe it.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// Where the blob is.
    pub path: PathBuf,
    /// The manifest's digest of the blob as stored (compressed).
    pub digest: Digest,
    /// The config's `diff_id`: the digest of the uncompressed tar.
    pub diff_id: Digest,
    /// The blob's compression.
    pub compression: Compression,
}

/// Why a layer was refused.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A digest string is not `sha256:<64 hex>`.
    #[error("invalid digest {0:?}: expected sha256:<64 hex digits>")]
    BadDigest(String),
    /// The blob is not what the manifest promised.
    #[error("layer {path}: digest is {actual}, the manifest says {expected}")]
    DigestMismatch {
        /// The blob.
        path: PathBuf,
        /// What the manifest says.
        expected: Digest,
        /// What the blob hashes to.
        actual: Digest,
    },
    /// The uncompressed tar is not what the image config promised.
    #[error(
        "layer {path}: uncompressed digest is {actual}, the image config's diff_id is {expected}"
    )]
    DiffIdMismatch {
        /// The blob.
        path: PathBuf,
        /// The config's diff_id.
        expected: Digest,
        /// What the tar hashes to.
        actual: Digest,
    },
    /// An entry tries to reach outside the root.
    #[error("layer entry {entry:?} escapes the root filesystem: {why}")]
    Escape {
        /// The entry's path as written in the tar.
        entry: String,
        /// How it escapes.
        why: String,
    },
    /// An entry the runtime does not create (device nodes, FIFOs).
    #[error("layer entry {entry:?} is a {kind}, which images may not create")]
    Forbidden {
        /// The entry's path.
        entry: String,
        /// Its type.
        kind: &'static str,
    },
    /// Reading the blob or writing the root failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> LayerError {
    let what = what.into();
    move |source| LayerError::Io { what, source }
}

/// What applying a layer did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Files, directories and links written.
    pub entries: usize,
    /// Paths removed by whiteouts.
    pub whiteouts: usize,
}

/// Checks the blob's compressed digest, then applies it to `root` while
/// hashing the uncompressed stream, and checks the diff_id at the end. On an
/// error `root` may hold part of the layer: callers apply layers to a staging
/// directory and discard it on failure ([`unpack_layers`]).
pub fn apply_layer(layer: &LayerBlob, root: &Path) -> Result<Applied, LayerError> {
    let actual = hash_file(&layer.path)?;
    if actual != layer.digest {
        return Err(LayerError::DigestMismatch {
            path: layer.path.clone(),
            expected: layer.digest.clone(),
            actual,
        });
    }
    let file = File::open(&layer.path)
        .map_err(io_err(format!("opening layer {}", layer.path.display())))?;
    let decompressed: Box<dyn Read> = match layer.compression {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(file)),
    };
    let mut hashing = HashingReader {
        inner: decompressed,
        hasher: Sha256::new(),
    };
    let applied = {
        let mut archive = tar::Archive::new(&mut hashing);
        apply_archive(&mut archive, root)?
    };
    io::copy(&mut hashing, &mut io::sink()).map_err(io_err("reading the end of the layer"))?;
    let actual = Digest(hashing.hasher.finalize().into());
    if actual != layer.diff_id {
        return Err(LayerError::DiffIdMismatch {
            path: layer.path.clone(),
            expected: layer.diff_id.clone(),
            actual,
        });
    }
    Ok(applied)
}

/// Applies `layers` in order to a fresh root at `dest` (which must not
/// exist): built in a staging directory beside it and renamed into place only
/// when every layer checked out, so `dest` is whole or absent.
pub fn unpack_layers(layers: &[LayerBlob], dest: &Path) -> Result<Applied, LayerError> {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rootfs".into());
    let staging = dest.with_file_name(format!(".{name}.staging"));
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(io_err(format!("clearing {}", staging.display())))?;
    }
    fs::create_dir_all(&staging).map_err(io_err(format!("creating {}", staging.display())))?;
    let mut total = Applied::default();
    for layer in layers {
        match apply_layer(layer, &staging) {
            Ok(a) => {
                total.entries += a.entries;
                total.whiteouts += a.whiteouts;
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&staging);
                return Err(e);
            }
        }
    }
    fs::rename(&staging, dest)
        .map_err(io_err(format!("moving the root into {}", dest.display())))?;
    Ok(total)
}

fn hash_file(path: &Path) -> Result<Digest, LayerError> {
    let mut file = File::open(path).map_err(io_err(format!("opening layer {}", path.display())))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)
        .map_err(io_err(format!("reading layer {}", path.display())))?;
    Ok(Digest(hasher.finalize().into()))
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
const MAX_SYMLINK_HOPS: usize = 40;

fn apply_archive<R: Read>(
    archive: &mut tar::Archive<R>,
    root: &Path,
) -> Result<Applied, LayerError> {
    let mut applied = Applied::default();
    // Paths this layer wrote: an opaque whiteout hides lower layers only.
    let mut written: HashSet<PathBuf> = HashSet::new();
    let entries = archive
        .entries()
        .map_err(io_err("reading the layer's tar"))?;
    for entry in entries {
        let mut entry = entry.map_err(io_err("reading a tar entry"))?;
        let raw = entry
            .path()
            .map_err(io_err("reading an entry's path"))?
            .into_owned();
        let shown = raw.to_string_lossy().into_owned();
        let rel = relative_path(&raw, &shown)?;
        let Some(file_name) = rel.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue; // "./" itself
        };
        let parent_rel = rel.parent().map(Path::to_path_buf).unwrap_or_default();

        if file_name == OPAQUE {
            let dir = resolve(root, &parent_rel, &shown, true)?;
            if dir.is_dir() {
                for child in
                    fs::read_dir(&dir).map_err(io_err(format!("listing {}", dir.display())))?
                {
                    let child = child.map_err(io_err("listing a directory"))?.path();
                    if !written.contains(&child) {
                        remove_any(&child)?;
                        applied.whiteouts += 1;
                    }
                }
            }
            continue;
        }
        if let Some(hidden) = file_name.strip_prefix(WHITEOUT) {
            // `.wh..` would name the parent directory, `.wh.` the directory itself.
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(LayerError::Escape {
                    entry: shown,
                    why: "a whiteout must name an entry of its directory".into(),
                });
            }
            let dir = resolve(root, &parent_rel, &shown, true)?;
            let target = dir.join(hidden);
            if target.symlink_metadata().is_ok() {
                remove_any(&target)?;
                applied.whiteouts += 1;
            }
            continue;
        }

        let dir = resolve(root, &parent_rel, &shown, true)?;
        let target = dir.join(&file_name);
        let kind = entry.header().entry_type();
        // Whatever was at the target in a lower layer is replaced, except a
        // directory by a directory (their contents merge).
        if let Ok(meta) = target.symlink_metadata()
            && !(meta.is_dir() && kind.is_dir())
        {
            remove_any(&target)?;
        }
        match kind {
            tar::EntryType::Directory => {
                if !target.is_dir() {
                    fs::create_dir(&target)
                        .map_err(io_err(format!("creating {}", target.display())))?;
                }
                set_owner(&target, entry.header())?;
                set_mode(&target, entry.header().mode().unwrap_or(0o755))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut out = File::create(&target)
                    .map_err(io_err(format!("creating {}", target.display())))?;
                io::copy(&mut entry, &mut out)
                    .map_err(io_err(format!("writing {}", target.display())))?;
                set_owner(&target, entry.header())?;
                set_mode(&target, entry.header().mode().unwrap_or(0o644))?;
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(io_err("reading a symlink target"))?
                    .ok_or_else(|| LayerError::Escape {
                        entry: shown.clone(),
                        why: "symlink without a target".into(),
                    })?;
                // Stored as written: it is resolved inside the root whenever followed.
                std::os::unix::fs::symlink(&link, &target)
                    .map_err(io_err(format!("creating symlink {}", target.display())))?;
                set_owner(&target, entry.header())?;
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name()
                    .map_err(io_err("reading a hardlink target"))?
                    .ok_or_else(|| LayerError::Escape {
                        entry: shown.clone(),
                        why: "hardlink without a target".into(),
                    })?;
                let link_rel = relative_path(&link, &shown)?;
                let source = resolve(root, &link_rel, &shown, false)?;
                let meta = source.symlink_metadata().map_err(|_| LayerError::Escape {
                    entry: shown.clone(),
                    why: format!(
                        "hardlink to {} which is not in the layer root",
                        link.display()
                    ),
                })?;
                if !meta.is_file() {
                    return Err(LayerError::Escape {
                        entry: shown,
                        why: format!(
                            "hardlink to {}, which is not a regular file",
                            link.display()
                        ),
                    });
                }
                fs::hard_link(&source, &target)
                    .map_err(io_err(format!("linking {}", target.display())))?;
            }
            tar::EntryType::Char => {
                return Err(LayerError::Forbidden {
                    entry: shown,
                    kind: "character device",
                });
            }
            tar::EntryType::Block => {
                return Err(LayerError::Forbidden {
                    entry: shown,
                    kind: "block device",
                });
            }
            tar::EntryType::Fifo => {
                return Err(LayerError::Forbidden {
                    entry: shown,
                    kind: "FIFO",
                });
            }
            // PAX headers, GNU long names and the like are metadata the tar crate applies.
            _ => continue,
        }
        written.insert(target);
        applied.entries += 1;
    }
    Ok(applied)
}

/// The entry path as plain relative components; absolute paths and `..` are refused.
fn relative_path(raw: &Path, shown: &str) -> Result<PathBuf, LayerError> {
    let mut rel = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(LayerError::Escape {
                    entry: shown.to_owned(),
                    why: "the path contains \"..\"".into(),
                });
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(LayerError::Escape {
                    entry: shown.to_owned(),
                    why: "the path is absolute".into(),
                });
            }
        }
    }
    Ok(rel)
}

/// Resolves `rel` inside `root` as [`resolve`] does, creating missing
/// directories on the way: for preparing paths in a root that an image made.
pub(crate) fn resolve_in_root(root: &Path, rel: &Path) -> Result<PathBuf, LayerError> {
    let shown = rel.display().to_string();
    let rel = relative_path(rel.strip_prefix("/").unwrap_or(rel), &shown)?;
    resolve(root, &rel, &shown, true)
}

/// Reads a small regular file of an unpacked image (`/etc/passwd`...),
/// resolved inside `root` and never through a symlink out of it; `None` if
/// it is missing, not a regular file or larger than `max` bytes.
pub(crate) fn read_image_file(root: &Path, rel: &Path, max: u64) -> Option<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = rel.display().to_string();
    let rel = relative_path(rel.strip_prefix("/").unwrap_or(rel), &shown).ok()?;
    let path = resolve(root, &rel, &shown, false).ok()?;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits() | nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > max {
        return None;
    }
    let mut text = String::new();
    file.take(max).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Resolves `rel` inside `root`, following symlinks as `openat2(RESOLVE_IN_ROOT)`
/// would (absolute targets count from the root) and refusing any step above
/// the root. With `create`, missing directories are created on the way.
fn resolve(root: &Path, rel: &Path, shown: &str, create: bool) -> Result<PathBuf, LayerError> {
    let escape = |why: String| LayerError::Escape {
        entry: shown.to_owned(),
        why,
    };
    let mut stack: Vec<std::ffi::OsString> = Vec::new(); // resolved components below root
    let mut pending: Vec<std::ffi::OsString> = rel
        .components()
        .rev()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            if stack.pop().is_none() {
                return Err(escape("a symlink on its path climbs above the root".into()));
            }
            continue;
        }
        if part == "." || part.is_empty() {
            continue;
        }
        let here: PathBuf = std::iter::once(root.as_os_str().to_owned())
            .chain(stack.iter().cloned())
            .chain([part.clone()])
            .collect();
        match here.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(escape("too many symlinks on its path".into()));
                }
                let target =
                    fs::read_link(&here).map_err(io_err(format!("reading {}", here.display())))?;
                if target.is_absolute() {
                    stack.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(p) => pending.push(p.to_owned()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            Ok(meta) if meta.is_dir() => stack.push(part),
            Ok(_) if pending.is_empty() => stack.push(part),
            Ok(_) => {
                return Err(escape(format!(
                    "{} on its path is not a directory",
                    here.display()
                )));
            }
            Err(_) if create => {
                fs::create_dir(&here).map_err(io_err(format!("creating {}", here.display())))?;
                stack.push(part);
            }
            Err(_) => stack.push(part),
        }
    }
    Ok(std::iter::once(root.as_os_str().to_owned())
        .chain(stack)
        .collect())
}

fn remove_any(path: &Path) -> Result<(), LayerError> {
    let meta = path
        .symlink_metadata()
        .map_err(io_err(format!("inspecting {}", path.display())))?;
    if meta.is_dir() {
        fs::remove_dir_all(path).map_err(io_err(format!("removing {}", path.display())))
    } else {
        fs::remove_file(path).map_err(io_err(format!("removing {}", path.display())))
    }
}

/// Gives the entry its owner from the layer (without following a symlink),
/// so images that run as a user own their files. Only root can; an
/// unprivileged unpack (tests, tools) keeps its own ownership.
fn set_owner(path: &Path, header: &tar::Header) -> Result<(), LayerError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let id = |v: io::Result<u64>| v.ok().and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
    std::os::unix::fs::lchown(path, Some(id(header.uid())), Some(id(header.gid())))
        .map_err(io_err(format!("setting the owner of {}", path.display())))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), LayerError> {
    use std::os::unix::fs::PermissionsExt;
    // setuid/setgid stay off (no_new_privs would ignore them anyway); the
    // sticky bit stays (a shared /tmp needs it).
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o1777))
        .map_err(io_err(format!("setting the mode of {}", path.display())))
}
