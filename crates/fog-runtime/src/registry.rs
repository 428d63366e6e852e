//! Pulling images from OCI/Docker registries into the content-addressed
//! [`BlobStore`], producing the same [`Image`] that [`crate::image::load_archive`]
//! produces, so containers are made the same way from either.
//!
//! A registry is not trusted any more than an uploaded archive. What is
//! verified where:
//!
//! - **Manifests and indexes** are fetched whole (they are small) and hashed
//!   here: by tag, the digest is the one of the bytes received (and must
//!   agree with the registry's `Docker-Content-Digest` header, which
//!   `oci-client` checks); by digest, or when chosen from an index, the bytes
//!   must hash to the digest asked for. Docker schema2 and OCI manifests,
//!   manifest lists and indexes are understood; for an index, the entry for
//!   [`PullOptions::platform`] is chosen. Anything else (schema1, artifacts,
//!   non-image configs, zstd layers) is refused before any blob is fetched.
//! - **Blobs** (config and layers) are streamed from the registry into a
//!   temporary file in the store's directory, hashed while streaming, and
//!   never held in memory. A blob whose sha256 is not its descriptor's digest,
//!   or which grows past its descriptor's size, is refused and its temporary
//!   file deleted: nothing is stored under that digest ([`BlobStore::put`]'s
//!   whole-or-absent rule). A blob already in the store is not fetched again.
//!   The manifest is stored last, so a stored manifest means all its blobs are
//!   there.
//! - **Uncompressed digests** (the config's `diff_ids`) are checked when the
//!   layers are applied ([`crate::layer::apply_layer`]); here the returned
//!   [`Image::layers`] carry them, with the compression the media type names.
//!
//! Blobs are only ever fetched from the registry named by the reference:
//! a descriptor's alternative `urls` are ignored.
//!
//! ```no_run
//! use fog_runtime::{image::BlobStore, registry::{PullOptions, pull}};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let store = BlobStore::open(std::path::Path::new("/var/lib/fog/blobs"))?;
//! let image = pull(&store, "docker.io/library/busybox:1.36", &PullOptions::default()).await?;
//! println!("{} layers", image.layers.len());
//! # Ok(())
//! # }
//! ```

use std::{
    io,
    pin::Pin,
    str::FromStr,
    task::{Context, Poll, ready},
};

use oci_client::{
    Client, Reference,
    client::{ClientConfig, ClientProtocol},
    errors::{DigestError, OciDistributionError, OciErrorCode},
    manifest::{
        IMAGE_DOCKER_CONFIG_MEDIA_TYPE, IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE,
        OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
    },
    secrets::RegistryAuth,
};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWrite;
use tracing::{debug, info};

use crate::{
    image::{BlobStore, Image, layer_compression},
    layer::{Digest, LayerBlob, LayerError},
};

/// The manifest media types asked for (and understood).
const ACCEPTED_MANIFESTS: &[&str] = &[
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// How deep indexes may nest before the pull gives up.
const MAX_INDEX_DEPTH: usize = 4;

/// The largest config blob read into memory to parse.
const MAX_CONFIG_SIZE: u64 = 16 << 20;

/// Credentials for a registry.
#[derive(Clone, Default)]
pub enum Auth {
    /// No credentials (public images). A registry that offers anonymous
    /// bearer tokens (Docker Hub, ghcr.io) still works.
    #[default]
    Anonymous,
    /// A user name and password (or access token used as a password): sent
    /// as HTTP Basic auth, or exchanged for a bearer token when the registry
    /// asks for one.
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: String,
    },
    /// A bearer token obtained elsewhere, sent as is.
    Bearer {
        /// The token.
        token: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            // Never print the password.
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::Bearer { .. } => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// The platform whose image to choose from a multi-platform index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// Operating system, as in OCI (`linux`).
    pub os: String,
    /// CPU architecture, as in OCI (`amd64`, `arm64`).
    pub architecture: String,
    /// Architecture variant (`v8`); `None` accepts any.
    pub variant: Option<String>,
}

impl Default for Platform {
    /// linux/amd64.
    fn default() -> Self {
        Self {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// How to pull: credentials, transport and platform.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Credentials (anonymous by default).
    pub auth: Auth,
    /// Registries (`host` or `host:port`, as written in the reference)
    /// reached over plain HTTP, such as a local test registry. Every other
    /// registry is reached over HTTPS.
    pub plain_http: Vec<String>,
    /// The platform to choose from a multi-platform index (linux/amd64 by
    /// default).
    pub platform: Platform,
}

/// Why an image could not be pulled.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The reference is not `[registry/]repository[:tag][@digest]`.
    #[error(
        "invalid image reference {reference:?}: {why}; expected [registry/]repository[:tag][@sha256:<hex>]"
    )]
    BadReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        why: String,
    },
    /// The registry could not be reached at all.
    #[error(
        "registry {address} is unreachable: {detail}; check the address, that the registry is \
         serving, and whether it speaks plain HTTP (list it in PullOptions::plain_http) or HTTPS"
    )]
    Unreachable {
        /// `scheme://host[:port]` that was tried.
        address: String,
        /// What the connection attempt reported.
        detail: String,
    },
    /// The registry does not have this repository, tag or blob.
    #[error(
        "image {reference} not found at registry {address}: {detail}; check the repository name \
         and tag"
    )]
    NotFound {
        /// The reference pulled.
        reference: String,
        /// The registry.
        address: String,
        /// What the registry said.
        detail: String,
    },
    /// The registry refused the credentials (or wants some).
    #[error(
        "registry {address} refused access to {reference}: {detail}; check PullOptions::auth \
         (user name and password or token) and the account's pull rights"
    )]
    AuthRefused {
        /// The reference pulled.
        reference: String,
        /// The registry.
        address: String,
        /// What the registry said.
        detail: String,
    },
    /// A manifest or blob is not what its digest says. Nothing was stored
    /// for it.
    #[error(
        "{reference}: {blob} from the registry hashes to {actual}, but {expected} was expected; \
         the registry's copy is corrupt or was tampered with, nothing was stored for it"
    )]
    DigestMismatch {
        /// The reference pulled.
        reference: String,
        /// Which manifest or blob (e.g. `layer 2 of 3`).
        blob: String,
        /// The digest it should have.
        expected: Digest,
        /// What the received bytes hash to.
        actual: Digest,
    },
    /// A blob is bigger than its descriptor says. Nothing was stored for it.
    #[error(
        "{reference}: {blob} ({digest}) from the registry is larger than the {declared} bytes its \
         descriptor declares; refused, nothing was stored for it"
    )]
    Oversized {
        /// The reference pulled.
        reference: String,
        /// Which blob.
        blob: String,
        /// Its digest.
        digest: Digest,
        /// The size its descriptor declares.
        declared: u64,
    },
    /// Something this runtime does not run: an artifact that is not a
    /// container image, a schema1 manifest, a layer compression it cannot
    /// read.
    #[error(
        "{reference}: {what} has media type {media_type}, which this runtime does not support \
         (supported: OCI and Docker schema2 images with tar or tar+gzip layers)"
    )]
    UnsupportedMediaType {
        /// The reference pulled.
        reference: String,
        /// What has the media type.
        what: String,
        /// The media type.
        media_type: String,
    },
    /// A multi-platform image has no entry for the platform asked for.
    #[error(
        "{reference} has no image for platform {platform} (available: {}); set \
         PullOptions::platform to one of those",
        available.join(", ")
    )]
    NoMatchingPlatform {
        /// The reference pulled.
        reference: String,
        /// The platform asked for.
        platform: Platform,
        /// The platforms the index offers.
        available: Vec<String>,
    },
    /// A manifest, index or config does not parse or does not add up.
    #[error("{reference}: {what}")]
    Malformed {
        /// The reference pulled.
        reference: String,
        /// What is wrong.
        what: String,
    },
    /// Any other failure the registry reported.
    #[error("registry {address} failed while pulling {reference}: {detail}")]
    Registry {
        /// The reference pulled.
        reference: String,
        /// The registry.
        address: String,
        /// What went wrong.
        detail: String,
    },
    /// Writing to the blob store failed.
    #[error(transparent)]
    Store(#[from] LayerError),
}

/// Pulls `reference` (`registry/repository:tag` or `...@sha256:<hex>`; a
/// bare `name:tag` means Docker Hub) into `store` and returns the image,
/// ready for [`crate::layer::unpack_layers`]. See the module documentation
/// for what is verified. Blobs already in the store are not fetched again;
/// the manifest is always fetched, since a tag may have moved.
pub async fn pull(
    store: &BlobStore,
    reference: &str,
    options: &PullOptions,
) -> Result<Image, RegistryError> {
    let parsed = Reference::from_str(reference).map_err(|e| RegistryError::BadReference {
        reference: reference.to_owned(),
        why: e.to_string(),
    })?;
    let puller = Puller::new(parsed, options);
    puller.pull(store).await
}

struct Puller<'a> {
    client: Client,
    reference: Reference,
    /// `scheme://host[:port]`, for messages.
    address: String,
    auth: RegistryAuth,
    options: &'a PullOptions,
}

/// What a fetched manifest turned out to be.
enum Fetched {
    Index(Box<ImageIndex>),
    Manifest(Box<ImageManifest>),
}

impl<'a> Puller<'a> {
    fn new(reference: Reference, options: &'a PullOptions) -> Self {
        let registry = reference.resolve_registry().to_owned();
        let plain = options
            .plain_http
            .iter()
            .any(|r| *r == registry || *r == reference.registry());
        let address = format!("{}://{registry}", if plain { "http" } else { "https" });
        let mut exceptions = options.plain_http.clone();
        if plain {
            // oci-client matches the resolved name (docker.io -> index.docker.io).
            exceptions.push(registry);
        }
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(exceptions),
            // Indexes are resolved here, against PullOptions::platform.
            platform_resolver: None,
            ..ClientConfig::default()
        });
        let auth = match &options.auth {
            Auth::Anonymous => RegistryAuth::Anonymous,
            Auth::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Auth::Bearer { token } => RegistryAuth::Bearer(token.clone()),
        };
        Self {
            client,
            reference,
            address,
            auth,
            options,
        }
    }

    async fn pull(&self, store: &BlobStore) -> Result<Image, RegistryError> {
        info!(reference = %self.reference, "pulling image");
        let (manifest_digest, manifest_bytes, manifest) = self.resolve_manifest().await?;
        self.check_media_types(&manifest)?;

        let config_digest = self.descriptor_digest(manifest.config())?;
        if manifest.config().size() > MAX_CONFIG_SIZE {
            return Err(self.malformed(format!(
                "the manifest declares a config of {} bytes, more than the {MAX_CONFIG_SIZE} \
                 this runtime reads",
                manifest.config().size()
            )));
        }
        self.fetch_blob(store, manifest.config(), &config_digest, "the config")
            .await?;
        let config = self.read_config(store, &config_digest).await?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Err(self.malformed(format!(
                "the manifest lists {} layers but the config {} diff_ids",
                manifest.layers().len(),
                diff_ids.len()
            )));
        }

        let count = manifest.layers().len();
        let mut layers = Vec::with_capacity(count);
        for (i, (descriptor, diff_id)) in manifest.layers().iter().zip(diff_ids).enumerate() {
            let digest = self.descriptor_digest(descriptor)?;
            let what = format!("layer {} of {count}", i + 1);
            self.fetch_blob(store, descriptor, &digest, &what).await?;
            // check_media_types has accepted every layer's media type.
            let compression = layer_compression(descriptor.media_type())
                .ok_or_else(|| self.unsupported(&what, descriptor.media_type().as_ref()))?;
            let diff_id = Digest::parse(diff_id)
                .map_err(|e| self.malformed(format!("the config's diff_id for {what}: {e}")))?;
            layers.push(LayerBlob {
                path: store.path(&digest),
                digest,
                diff_id,
                compression,
            });
        }

        // Last, so that a stored manifest means all its blobs are stored.
        store.put(&manifest_bytes[..], Some(&manifest_digest))?;
        info!(reference = %self.reference, manifest = %manifest_digest, layers = count, "pulled image");
        Ok(Image {
            manifest: manifest_digest,
            config_digest,
            config,
            layers,
        })
    }

    /// Fetches the manifest the reference names, following indexes to the
    /// entry for the wanted platform. Returns its digest, bytes and parse.
    async fn resolve_manifest(&self) -> Result<(Digest, Vec<u8>, ImageManifest), RegistryError> {
        let mut reference = self.reference.clone();
        let mut expected = match self.reference.digest() {
            Some(d) => Some(Digest::parse(d).map_err(|e| RegistryError::BadReference {
                reference: self.reference.to_string(),
                why: e.to_string(),
            })?),
            None => None,
        };
        let mut what = "the manifest".to_owned();
        for _ in 0..=MAX_INDEX_DEPTH {
            let (bytes, digest) = self
                .fetch_manifest(&reference, expected.as_ref(), &what)
                .await?;
            match self.parse_manifest(&bytes)? {
                Fetched::Manifest(manifest) => return Ok((digest, bytes, *manifest)),
                Fetched::Index(index) => {
                    let chosen = self.choose_platform(&index)?;
                    let chosen_digest = self.descriptor_digest(&chosen)?;
                    debug!(index = %digest, manifest = %chosen_digest, platform = %self.options.platform, "chose from index");
                    what = format!("the {} manifest", self.options.platform);
                    reference = self.reference.clone_with_digest(chosen_digest.to_string());
                    expected = Some(chosen_digest);
                }
            }
        }
        Err(self.malformed(format!("indexes nest more than {MAX_INDEX_DEPTH} deep")))
    }

    /// Fetches a manifest or index and checks its digest: against `expected`
    /// if given, else it is the digest of the bytes received.
    async fn fetch_manifest(
        &self,
        reference: &Reference,
        expected: Option<&Digest>,
        what: &str,
    ) -> Result<(Vec<u8>, Digest), RegistryError> {
        let (bytes, _) = self
            .client
            .pull_manifest_raw(reference, &self.auth, ACCEPTED_MANIFESTS)
            .await
            .map_err(|e| self.oci_error(e, what))?;
        let actual = Digest::of(&bytes);
        if let Some(expected) = expected
            && *expected != actual
        {
            return Err(RegistryError::DigestMismatch {
                reference: self.reference.to_string(),
                blob: what.to_owned(),
                expected: expected.clone(),
                actual,
            });
        }
        Ok((bytes.to_vec(), actual))
    }

    fn parse_manifest(&self, bytes: &[u8]) -> Result<Fetched, RegistryError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            schema_version: Option<u32>,
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(bytes)
            .map_err(|e| self.malformed(format!("the manifest is not JSON: {e}")))?;
        let media_type = match probe.media_type {
            Some(t) => t,
            // OCI allows omitting mediaType: tell the kinds apart by shape.
            None if probe.manifests.is_some() => OCI_IMAGE_INDEX_MEDIA_TYPE.to_owned(),
            None => OCI_IMAGE_MEDIA_TYPE.to_owned(),
        };
        if probe.schema_version != Some(2) {
            return Err(self.unsupported(
                &format!("a schema version {:?} manifest", probe.schema_version),
                &media_type,
            ));
        }
        match media_type.as_str() {
            OCI_IMAGE_INDEX_MEDIA_TYPE | IMAGE_MANIFEST_LIST_MEDIA_TYPE => {
                serde_json::from_slice(bytes)
                    .map(|i| Fetched::Index(Box::new(i)))
                    .map_err(|e| self.malformed(format!("the image index: {e}")))
            }
            OCI_IMAGE_MEDIA_TYPE | IMAGE_MANIFEST_MEDIA_TYPE => serde_json::from_slice(bytes)
                .map(|m| Fetched::Manifest(Box::new(m)))
                .map_err(|e| self.malformed(format!("the manifest: {e}"))),
            other => Err(self.unsupported("the manifest", other)),
        }
    }

    /// The index entry for the wanted platform; an index whose entries name
    /// no platform at all gives its first entry.
    fn choose_platform(&self, index: &ImageIndex) -> Result<Descriptor, RegistryError> {
        let want = &self.options.platform;
        let manifests = index.manifests();
        let matching = manifests.iter().find(|d| {
            d.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == want.os
                    && p.architecture().to_string() == want.architecture
                    && want
                        .variant
                        .as_ref()
                        .is_none_or(|v| p.variant().as_ref() == Some(v))
            })
        });
        let unlabelled = manifests.iter().all(|d| d.platform().is_none());
        match matching.or(if unlabelled { manifests.first() } else { None }) {
            Some(d) => Ok(d.clone()),
            None => Err(RegistryError::NoMatchingPlatform {
                reference: self.reference.to_string(),
                platform: want.clone(),
                available: manifests
                    .iter()
                    .filter_map(|d| d.platform().as_ref())
                    .map(|p| {
                        let mut s = format!("{}/{}", p.os(), p.architecture());
                        if let Some(v) = p.variant() {
                            s = format!("{s}/{v}");
                        }
                        s
                    })
                    .collect(),
            }),
        }
    }

    /// Refuses, before fetching any blob, an image this runtime cannot run.
    fn check_media_types(&self, manifest: &ImageManifest) -> Result<(), RegistryError> {
        let config_type = manifest.config().media_type();
        let is_image_config = *config_type == MediaType::ImageConfig
            || matches!(config_type, MediaType::Other(t) if t == IMAGE_DOCKER_CONFIG_MEDIA_TYPE);
        if !is_image_config {
            return Err(self.unsupported("the config", config_type.as_ref()));
        }
        let count = manifest.layers().len();
        for (i, layer) in manifest.layers().iter().enumerate() {
            if layer_compression(layer.media_type()).is_none() {
                return Err(self.unsupported(
                    &format!("layer {} of {count}", i + 1),
                    layer.media_type().as_ref(),
                ));
            }
        }
        Ok(())
    }

    fn descriptor_digest(&self, descriptor: &Descriptor) -> Result<Digest, RegistryError> {
        Digest::parse(descriptor.digest().as_ref())
            .map_err(|e| self.malformed(format!("a descriptor's digest: {e}")))
    }

    /// Streams the blob into the store unless it is already there: into a
    /// temporary file, hashed on the way, moved into place only if it hashes
    /// to `digest` and is no larger than declared.
    async fn fetch_blob(
        &self,
        store: &BlobStore,
        descriptor: &Descriptor,
        digest: &Digest,
        what: &str,
    ) -> Result<(), RegistryError> {
        if store.contains(digest) {
            debug!(%digest, what, "blob already in the store");
            return Ok(());
        }
        let io = |doing: String| {
            move |source| LayerError::Io {
                what: doing,
                source,
            }
        };
        let tmp = tempfile::NamedTempFile::new_in(store.tmp_dir())
            .map_err(io("creating a temporary blob".into()))?;
        let file = tmp
            .as_file()
            .try_clone()
            .map_err(io("opening a temporary blob".into()))?;
        let mut writer = HashingWriter {
            file: tokio::fs::File::from_std(file),
            hasher: Sha256::new(),
            written: 0,
            limit: descriptor.size(),
            overflowed: false,
        };
        let digest_str = digest.to_string();
        let result = self
            .client
            .pull_blob(&self.reference, digest_str.as_str(), &mut writer)
            .await;
        let HashingWriter {
            file,
            hasher,
            written,
            overflowed,
            ..
        } = writer;
        let actual = Digest::from_bytes(hasher.finalize().into());
        match result {
            Ok(()) => {}
            // oci-client checks the digest too; report it with ours.
            Err(OciDistributionError::DigestError(DigestError::VerificationError { .. })) => {}
            Err(_) if overflowed => {
                return Err(RegistryError::Oversized {
                    reference: self.reference.to_string(),
                    blob: what.to_owned(),
                    digest: digest.clone(),
                    declared: descriptor.size(),
                });
            }
            Err(e) => return Err(self.oci_error(e, what)),
        }
        if actual != *digest {
            // Dropping `tmp` deletes the temporary file.
            return Err(RegistryError::DigestMismatch {
                reference: self.reference.to_string(),
                blob: format!("{what} ({digest})"),
                expected: digest.clone(),
                actual,
            });
        }
        file.sync_all()
            .await
            .map_err(io(format!("syncing {what}")))?;
        drop(file);
        let dest = store.path(digest);
        if !dest.exists() {
            tmp.persist(&dest).map_err(|e| LayerError::Io {
                what: format!("storing {what} as {}", dest.display()),
                source: e.error,
            })?;
        }
        debug!(%digest, what, bytes = written, "stored blob");
        Ok(())
    }

    async fn read_config(
        &self,
        store: &BlobStore,
        digest: &Digest,
    ) -> Result<ImageConfiguration, RegistryError> {
        let path = store.path(digest);
        let size = tokio::fs::metadata(&path)
            .await
            .map_err(|source| LayerError::Io {
                what: format!("reading {}", path.display()),
                source,
            })?
            .len();
        if size > MAX_CONFIG_SIZE {
            return Err(self.malformed(format!(
                "the config is {size} bytes, more than the {MAX_CONFIG_SIZE} allowed"
            )));
        }
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|source| LayerError::Io {
                what: format!("reading {}", path.display()),
                source,
            })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.malformed(format!("the config {digest}: {e}")))
    }

    fn malformed(&self, what: String) -> RegistryError {
        RegistryError::Malformed {
            reference: self.reference.to_string(),
            what,
        }
    }

    fn unsupported(&self, what: &str, media_type: &str) -> RegistryError {
        RegistryError::UnsupportedMediaType {
            reference: self.reference.to_string(),
            what: what.to_owned(),
            media_type: media_type.to_owned(),
        }
    }

    /// Sorts an `oci-client` error into what went wrong for the caller.
    fn oci_error(&self, e: OciDistributionError, what: &str) -> RegistryError {
        let reference = self.reference.to_string();
        let address = self.address.clone();
        let detail = format!("fetching {what}: {}", chain(&e));
        match &e {
            OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout() => {
                RegistryError::Unreachable { address, detail }
            }
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => RegistryError::AuthRefused {
                reference,
                address,
                detail,
            },
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes = || envelope.errors.iter().map(|e| &e.code);
                if codes().any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied)) {
                    RegistryError::AuthRefused {
                        reference,
                        address,
                        detail,
                    }
                } else if codes().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::BlobUnknown
                            | OciErrorCode::NotFound
                    )
                }) {
                    RegistryError::NotFound {
                        reference,
                        address,
                        detail,
                    }
                } else {
                    RegistryError::Registry {
                        reference,
                        address,
                        detail,
                    }
                }
            }
            OciDistributionError::ServerError {
                code: 401 | 403, ..
            } => RegistryError::AuthRefused {
                reference,
                address,
                detail,
            },
            OciDistributionError::ServerError { code: 404, .. } => RegistryError::NotFound {
                reference,
                address,
                detail,
            },
            OciDistributionError::DigestError(DigestError::VerificationError {
                expected,
                actual,
            }) => match (Digest::parse(expected), Digest::parse(actual)) {
                (Ok(expected), Ok(actual)) => RegistryError::DigestMismatch {
                    reference,
                    blob: what.to_owned(),
                    expected,
                    actual,
                },
                _ => RegistryError::Registry {
                    reference,
                    address,
                    detail,
                },
            },
            _ => RegistryError::Registry {
                reference,
                address,
                detail,
            },
        }
    }
}

/// An error and its sources, `a: b: c` (reqwest's top-level messages alone
/// do not say what failed).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// Writes a blob to its temporary file, hashing what is written and refusing
/// to grow past the descriptor's size.
struct HashingWriter {
    file: tokio::fs::File,
    hasher: Sha256,
    written: u64,
    limit: u64,
    /// Set when the registry sent more than `limit` bytes.
    overflowed: bool,
}

impl AsyncWrite for HashingWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let room = this.limit.saturating_sub(this.written);
        if buf.len() as u64 > room {
            this.overflowed = true;
            return Poll::Ready(Err(io::Error::other(format!(
                "blob larger than its declared {} bytes",
                this.limit
            ))));
        }
        let n = ready!(Pin::new(&mut this.file).poll_write(cx, buf))?;
        this.hasher.update(&buf[..n]);
        this.written += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_shutdown(cx)
    }
}
