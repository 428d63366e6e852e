//! Images: a content-addressed blob store shared by all containers, and
//! loading an uploaded image archive (an OCI image layout tar, or a `docker
//! save` tarball) into it. Every blob is stored under the digest it hashes
//! to, so a blob that lies about its name is refused and two images sharing
//! a layer store it once.

use std::{
    collections::HashMap,
    fs::{self, File},
    io::{Read, Write},
    path::{Component, Path, PathBuf},
};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use sha2::{Digest as _, Sha256};

use crate::layer::{Compression, Digest, LayerBlob, LayerError};

/// Why an image could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A blob, digest or layer check failed.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// The archive lacks something an image needs.
    #[error("image archive {archive}: {what}")]
    Malformed {
        /// The archive.
        archive: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// Blobs by digest, under `<dir>/sha256/<hex>`.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// A store rooted at `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<Self, LayerError> {
        for sub in ["sha256", "tmp"] {
            fs::create_dir_all(dir.join(sub)).map_err(|source| LayerError::Io {
                what: format!("creating {}", dir.join(sub).display()),
                source,
            })?;
        }
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// Where the blob with `digest` lives (whether or not it is there).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("sha256")
            .join(digest.to_string().trim_start_matches("sha256:"))
    }

    /// Where blobs are written before they are verified and moved into place
    /// (same file system as the blobs, so the move is a rename).
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// Whether the store holds `digest`.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Streams `data` into the store and returns its digest; with `expected`,
    /// a blob hashing to anything else is refused and not kept.
    pub fn put(
        &self,
        mut data: impl Read,
        expected: Option<&Digest>,
    ) -> Result<Digest, LayerError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| LayerError::Io { what, source }
        };
        let mut tmp = tempfile::NamedTempFile::new_in(self.dir.join("tmp"))
            .map_err(io("creating a temporary blob"))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = data.read(&mut buf).map_err(io("reading a blob"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(io("writing a blob"))?;
        }
        tmp.as_file().sync_all().map_err(io("syncing a blob"))?;
        let actual = Digest::from_bytes(hasher.finalize().into());
        if let Some(expected) = expected
            && *expected != actual
        {
            // Dropping the temporary file deletes it.
            return Err(LayerError::DigestMismatch {
                path: tmp.path().to_owned(),
                expected: expected.clone(),
                actual,
            });
        }
        let dest = self.path(&actual);
        if !dest.exists() {
            tmp.persist(&dest).map_err(|e| LayerError::Io {
                what: "storing a blob".into(),
                source: e.error,
            })?;
        }
        Ok(actual)
    }

    /// Removes every blob not in `keep` (the blobs of the images still in
    /// use, see [`Image::blobs`]) and any temporary file a crash left behind.
    /// Returns how many blobs were removed.
    pub fn collect_garbage<'a>(
        &self,
        keep: impl IntoIterator<Item = &'a Digest>,
    ) -> Result<usize, LayerError> {
        let keep: std::collections::HashSet<PathBuf> =
            keep.into_iter().map(|d| self.path(d)).collect();
        let io = |what: String| move |source| LayerError::Io { what, source };
        let mut removed = 0;
        let blobs = self.dir.join("sha256");
        for entry in fs::read_dir(&blobs).map_err(io(format!("listing {}", blobs.display())))? {
            let path = entry.map_err(io("listing blobs".into()))?.path();
            if !keep.contains(&path) {
                fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
                removed += 1;
            }
        }
        let tmp = self.dir.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(io(format!("listing {}", tmp.display())))? {
            let path = entry.map_err(io("listing temporary blobs".into()))?.path();
            let _ = fs::remove_file(&path);
        }
        Ok(removed)
    }

    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        digest: &Digest,
        archive: &Path,
    ) -> Result<T, ImageError> {
        let bytes = fs::read(self.path(digest)).map_err(|source| LayerError::Io {
            what: format!("reading blob {digest}"),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::Malformed {
            archive: archive.to_owned(),
            what: format!("blob {digest}: {e}"),
        })
    }
}

/// An image ready to unpack: its config and its layers in order.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest's digest (the image's identity).
    pub manifest: Digest,
    /// The config blob's digest.
    pub config_digest: Digest,
    /// Entrypoint, command, environment, working dir, user, ...
    pub config: ImageConfiguration,
    /// Layers, lowest first, with their blobs in the store.
    pub layers: Vec<LayerBlob>,
}

impl Image {
    /// Every blob the image needs: what garbage collection must keep.
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        [&self.manifest, &self.config_digest]
            .into_iter()
            .chain(self.layers.iter().map(|l| &l.digest))
    }
}

/// Loads an uploaded image archive into `store`: an OCI image layout tar
/// (`index.json` + `blobs/sha256/..`) or a `docker save` tarball
/// (`manifest.json`, with or without OCI blobs). Every blob is verified
/// against the digest it is named by; the archive itself is never unpacked
/// onto disk, so its paths cannot escape anything.
pub fn load_archive(archive: &Path, store: &BlobStore) -> Result<Image, ImageError> {
    let malformed = |what: String| ImageError::Malformed {
        archive: archive.to_owned(),
        what,
    };
    let file = File::open(archive).map_err(|source| LayerError::Io {
        what: format!("opening {}", archive.display()),
        source,
    })?;
    let mut tar = tar::Archive::new(file);
    let mut index: Option<Vec<u8>> = None;
    let mut docker_manifest: Option<Vec<u8>> = None;
    // docker save (legacy): files named by path, stored by their digest.
    let mut by_name: HashMap<String, Digest> = HashMap::new();
    let entries = tar.entries().map_err(|source| LayerError::Io {
        what: format!("reading {}", archive.display()),
        source,
    })?;
    for entry in entries {
        let mut entry = entry.map_err(|source| LayerError::Io {
            what: format!("reading {}", archive.display()),
            source,
        })?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|source| LayerError::Io {
            what: "reading an entry path".into(),
            source,
        })?;
        let name = plain_name(&path)
            .ok_or_else(|| malformed(format!("entry {:?} is not a plain relative path", path)))?;
        match name.as_str() {
            "index.json" => index = Some(read_small(&mut entry, &name, archive)?),
            "manifest.json" => docker_manifest = Some(read_small(&mut entry, &name, archive)?),
            "oci-layout" => {}
            _ => {
                let expected = name
                    .strip_prefix("blobs/sha256/")
                    .map(|hex| Digest::parse(&format!("sha256:{hex}")))
                    .transpose()?;
                let digest = store.put(&mut entry, expected.as_ref())?;
                by_name.insert(name, digest);
            }
        }
    }
    match (index, docker_manifest) {
        (Some(index), _) => from_index(&index, store, archive),
        (None, Some(manifest)) => from_docker_manifest(&manifest, &by_name, store, archive),
        (None, None) => Err(malformed(
            "neither index.json (OCI layout) nor manifest.json (docker save) found".into(),
        )),
    }
}

fn plain_name(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?.to_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

fn read_small(entry: &mut impl Read, name: &str, archive: &Path) -> Result<Vec<u8>, ImageError> {
    let mut v = Vec::new();
    entry
        .take(16 << 20)
        .read_to_end(&mut v)
        .map_err(|source| LayerError::Io {
            what: format!("reading {name} in {}", archive.display()),
            source,
        })?;
    Ok(v)
}

fn digest_of(d: &Descriptor) -> Result<Digest, LayerError> {
    Digest::parse(d.digest().as_ref())
}

fn from_index(index: &[u8], store: &BlobStore, archive: &Path) -> Result<Image, ImageError> {
    let malformed = |what: String| ImageError::Malformed {
        archive: archive.to_owned(),
        what,
    };
    let index: ImageIndex =
        serde_json::from_slice(index).map_err(|e| malformed(format!("index.json: {e}")))?;
    let mut descriptor = pick_manifest(index.manifests())
        .ok_or_else(|| malformed("index.json lists no image".into()))?;
    // A nested index (multi-platform image): pick from it.
    for _ in 0..4 {
        if *descriptor.media_type() != MediaType::ImageIndex {
            break;
        }
        let nested: ImageIndex = store.read_json(&digest_of(&descriptor)?, archive)?;
        descriptor = pick_manifest(nested.manifests())
            .ok_or_else(|| malformed("a nested index lists no image".into()))?;
    }
    let manifest_digest = digest_of(&descriptor)?;
    if !store.contains(&manifest_digest) {
        return Err(malformed(format!(
            "manifest blob {manifest_digest} is missing"
        )));
    }
    let manifest: ImageManifest = store.read_json(&manifest_digest, archive)?;
    let config_digest = digest_of(manifest.config())?;
    let config: ImageConfiguration = store.read_json(&config_digest, archive)?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(malformed(format!(
            "the manifest lists {} layers but the config {} diff_ids",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::with_capacity(diff_ids.len());
    for (d, diff_id) in manifest.layers().iter().zip(diff_ids) {
        let digest = digest_of(d)?;
        if !store.contains(&digest) {
            return Err(malformed(format!("layer blob {digest} is missing")));
        }
        let compression = layer_compression(d.media_type()).ok_or_else(|| {
            malformed(format!(
                "layer {digest} has unsupported media type {}",
                d.media_type()
            ))
        })?;
        layers.push(LayerBlob {
            path: store.path(&digest),
            digest,
            diff_id: Digest::parse(diff_id)?,
            compression,
        });
    }
    Ok(Image {
        manifest: manifest_digest,
        config_digest,
        config,
        layers,
    })
}

/// How a layer with `media_type` is compressed (OCI or Docker schema2 layer
/// types), or `None` for a media type that is not a layer this runtime applies.
pub(crate) fn layer_compression(media_type: &MediaType) -> Option<Compression> {
    match media_type {
        MediaType::ImageLayer => Some(Compression::None),
        MediaType::ImageLayerGzip => Some(Compression::Gzip),
        MediaType::Other(t) if t.ends_with("tar.gzip") || t.ends_with("tar+gzip") => {
            Some(Compression::Gzip)
        }
        MediaType::Other(t) if t.ends_with(".tar") => Some(Compression::None),
        _ => None,
    }
}

/// The linux/amd64 entry if the index names platforms, else the first.
fn pick_manifest(manifests: &[Descriptor]) -> Option<Descriptor> {
    let linux_amd64 = manifests.iter().find(|d| {
        d.platform().as_ref().is_some_and(|p| {
            p.os().to_string() == "linux" && p.architecture().to_string() == "amd64"
        })
    });
    linux_amd64.or_else(|| manifests.first()).cloned()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    layers: Vec<String>,
}

fn from_docker_manifest(
    manifest: &[u8],
    by_name: &HashMap<String, Digest>,
    store: &BlobStore,
    archive: &Path,
) -> Result<Image, ImageError> {
    let malformed = |what: String| ImageError::Malformed {
        archive: archive.to_owned(),
        what,
    };
    let entries: Vec<DockerManifestEntry> =
        serde_json::from_slice(manifest).map_err(|e| malformed(format!("manifest.json: {e}")))?;
    let entry = entries
        .first()
        .ok_or_else(|| malformed("manifest.json lists no image".into()))?;
    let find = |name: &str| {
        by_name
            .get(name)
            .cloned()
            .ok_or_else(|| malformed(format!("{name} is missing")))
    };
    let config_digest = find(&entry.config)?;
    let config: ImageConfiguration = store.read_json(&config_digest, archive)?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != entry.layers.len() {
        return Err(malformed(format!(
            "manifest.json lists {} layers but the config {} diff_ids",
            entry.layers.len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::with_capacity(diff_ids.len());
    for (name, diff_id) in entry.layers.iter().zip(diff_ids) {
        let digest = find(name)?;
        // docker save stores layers uncompressed (layer.tar), or gzipped in newer formats.
        let compression = if is_gzip(&store.path(&digest))? {
            Compression::Gzip
        } else {
            Compression::None
        };
        layers.push(LayerBlob {
            path: store.path(&digest),
            digest,
            diff_id: Digest::parse(diff_id)?,
            compression,
        });
    }
    // docker save has no manifest blob: the config digest names the image.
    Ok(Image {
        manifest: config_digest.clone(),
        config_digest,
        config,
        layers,
    })
}

fn is_gzip(path: &Path) -> Result<bool, LayerError> {
    let mut magic = [0u8; 2];
    let mut f = File::open(path).map_err(|source| LayerError::Io {
        what: format!("opening {}", path.display()),
        source,
    })?;
    let n = f.read(&mut magic).map_err(|source| LayerError::Io {
        what: format!("reading {}", path.display()),
        source,
    })?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}
