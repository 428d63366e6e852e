//! A tiny real image built from the host's statically linked busybox
//! (Debian's `busybox-static`): what `fog worker check` starts, what the
//! runtime benchmark measures, and what the tests run. No registry needed.

use std::io::Write as _;
use std::path::Path;

use oci_spec::image::ImageConfiguration;

use crate::image::{BlobStore, Image};
use crate::layer::{Compression, Digest, LayerBlob, LayerError};

/// Where Debian's `busybox-static` installs the binary.
pub const BUSYBOX: &str = "/usr/bin/busybox";

/// Why the busybox image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BusyboxError {
    /// The binary is missing.
    #[error(
        "{0} is missing: install it with `apt-get install busybox-static` (scripts/setup does)"
    )]
    Missing(String),
    /// The binary is dynamically linked, so it cannot run in an empty root.
    #[error("{0} is dynamically linked: install Debian's busybox-static instead of busybox")]
    NotStatic(String),
    /// Building or storing the layer failed.
    #[error("building the busybox image: {0}")]
    Build(String),
    /// Storing a blob failed.
    #[error(transparent)]
    Layer(#[from] LayerError),
}

/// Builds the busybox image into `store` and returns it. Its command is
/// `sh`; `/etc/passwd` knows `root` (0) and `nobody` (65534).
pub fn image(store: &BlobStore) -> Result<Image, BusyboxError> {
    let binary = std::fs::read(BUSYBOX).map_err(|_| BusyboxError::Missing(BUSYBOX.into()))?;
    if has_interpreter(&binary) {
        return Err(BusyboxError::NotStatic(BUSYBOX.into()));
    }
    let applets = applets()?;
    let layer = layer_tar(&binary, &applets).map_err(|e| BusyboxError::Build(e.to_string()))?;
    let diff_id = Digest::of(&layer);
    let layer_digest = store.put(&layer[..], Some(&diff_id))?;

    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Cmd": ["sh"],
            "Env": ["PATH=/bin:/sbin:/usr/bin:/usr/sbin"],
            "WorkingDir": "/"
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]}
    });
    let config_bytes =
        serde_json::to_vec(&config).map_err(|e| BusyboxError::Build(e.to_string()))?;
    let config_digest = store.put(&config_bytes[..], None)?;
    let image_config: ImageConfiguration =
        serde_json::from_slice(&config_bytes).map_err(|e| BusyboxError::Build(e.to_string()))?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config_bytes.len()
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest.to_string(),
            "size": layer.len()
        }]
    });
    let manifest_bytes =
        serde_json::to_vec(&manifest).map_err(|e| BusyboxError::Build(e.to_string()))?;
    let manifest_digest = store.put(&manifest_bytes[..], None)?;
    Ok(Image {
        manifest: manifest_digest,
        config_digest,
        config: image_config,
        layers: vec![LayerBlob {
            path: store.path(&layer_digest),
            digest: layer_digest,
            diff_id,
            compression: Compression::None,
        }],
    })
}

/// Whether an ELF64 binary names a program interpreter (`PT_INTERP`), i.e.
/// is dynamically linked and needs the host's loader and libraries.
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u64_at = |at: usize| {
        elf.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..phnum).any(|i| {
        let at = phoff as usize + i * phentsize;
        elf.get(at..at + 4)
            .is_some_and(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) == PT_INTERP)
    })
}

fn applets() -> Result<Vec<String>, BusyboxError> {
    let output = std::process::Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .map_err(|e| BusyboxError::Build(format!("running {BUSYBOX} --list: {e}")))?;
    if !output.status.success() {
        return Err(BusyboxError::Build(format!("{BUSYBOX} --list failed")));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && !a.contains('/') && *a != "busybox")
        .map(String::from)
        .collect())
}

fn layer_tar(binary: &[u8], applets: &[String]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let dir = |tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(0);
        tar.append_data(&mut h, path, std::io::empty())
    };
    for (path, mode) in [
        ("bin", 0o755),
        ("etc", 0o755),
        ("tmp", 0o1777),
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
        ("root", 0o700),
        ("home", 0o755),
    ] {
        dir(&mut tar, path, mode)?;
    }
    let file = |tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        tar.append_data(&mut h, path, data)
    };
    file(&mut tar, "bin/busybox", 0o755, binary)?;
    file(
        &mut tar,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/sh\n",
    )?;
    file(
        &mut tar,
        "etc/group",
        0o644,
        b"root:x:0:\nnogroup:x:65534:\n",
    )?;
    for applet in applets {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_mtime(0);
        tar.append_link(&mut h, Path::new("bin").join(applet), "busybox")?;
    }
    let mut bytes = tar.into_inner()?;
    bytes.flush()?;
    Ok(bytes)
}
