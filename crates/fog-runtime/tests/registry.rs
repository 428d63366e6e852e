//! Registry pulls against a real registry: Debian's `docker-registry`
//! (distribution 2.8) on loopback, fed by `skopeo copy` from an OCI layout
//! the test builds. Pulled images land in the content-addressed store with
//! every blob checked, and unpack into a root filesystem.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    io::Write,
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread::sleep,
    time::Duration,
};

use fog_runtime::{
    image::BlobStore,
    layer::{Compression, Digest, unpack_layers},
    registry::{Auth, Platform, PullOptions, RegistryError, pull},
};
use serde_json::{Value, json};

// ---------------------------------------------------------------- registry

/// bcrypt of "fog-secret" (made with `perl -e 'print crypt("fog-secret",
/// q($2b$05$abcdefghijklmnopqrstuu))'`, since `htpasswd` is not installed).
const HTPASSWD: &str = "fog:$2b$05$abcdefghijklmnopqrstuu0JAXfQ1RF5LRGj5xwc8SNNsvJgAXoIK\n";
const USER: &str = "fog";
const PASSWORD: &str = "fog-secret";

/// A `docker-registry` child process on a free loopback port, killed on drop.
struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    auth: bool,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    fn start(auth: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let auth_yaml = if auth {
            fs::write(dir.path().join("htpasswd"), HTPASSWD).unwrap();
            format!(
                "auth:\n  htpasswd:\n    realm: fog-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            )
        } else {
            String::new()
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n{auth_yaml}",
            dir.path().join("storage").display()
        );
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).unwrap();
        let log = fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting /usr/bin/docker-registry (Debian package docker-registry)");
        let registry = Self {
            child,
            dir,
            port,
            auth,
        };
        // Wait until it accepts connections (bounded number of attempts).
        for _ in 0..400 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return registry;
            }
            sleep(Duration::from_millis(25));
        }
        panic!(
            "docker-registry did not start listening; its log:\n{}",
            fs::read_to_string(registry.dir.path().join("registry.log")).unwrap_or_default()
        );
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn reference(&self, name_tag: &str) -> String {
        format!("{}/{name_tag}", self.host())
    }

    fn options(&self) -> PullOptions {
        PullOptions {
            auth: if self.auth {
                Auth::Basic {
                    username: USER.into(),
                    password: PASSWORD.into(),
                }
            } else {
                Auth::Anonymous
            },
            plain_http: vec![self.host()],
            platform: Platform::default(),
        }
    }

    /// Pushes the OCI layout at `layout` (tag `tag`) as `name:tag` with skopeo.
    fn push(&self, layout: &Path, tag: &str, name: &str, extra: &[&str]) {
        let policy = self.dir.path().join("policy.json");
        fs::write(
            &policy,
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .unwrap();
        let mut cmd = Command::new("skopeo");
        cmd.arg("--policy")
            .arg(&policy)
            .args(["copy", "--quiet", "--dest-tls-verify=false"]);
        if self.auth {
            cmd.arg(format!("--dest-creds={USER}:{PASSWORD}"));
        }
        let out = cmd
            .args(extra)
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{name}:{tag}", self.host()))
            .stdin(Stdio::null())
            .output()
            .expect("running skopeo");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The registry's own file holding the blob `digest`.
    fn blob_file(&self, digest: &Digest) -> PathBuf {
        let hex = hex(digest);
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Flips one byte of the stored blob (same length, different digest).
    fn tamper(&self, digest: &Digest) {
        let path = self.blob_file(digest);
        let mut data = fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        fs::write(&path, data).unwrap();
    }
}

impl Registry {
    /// Changes one hex digit of the first digest inside the stored JSON blob:
    /// still valid JSON of the same length, but a different digest.
    fn tamper_json(&self, digest: &Digest) {
        let path = self.blob_file(digest);
        let mut data = fs::read(&path).unwrap();
        let needle = b"sha256:";
        let at = data
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
            + needle.len();
        data[at] = if data[at] == b'0' { b'1' } else { b'0' };
        fs::write(&path, data).unwrap();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- images

fn hex(d: &Digest) -> String {
    d.to_string().trim_start_matches("sha256:").to_owned()
}

fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// What a built image is made of.
struct Built {
    manifest: Digest,
    config: Digest,
    layers: Vec<Digest>,
    diff_ids: Vec<Digest>,
}

/// An OCI image layout directory under construction.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn new(dir: &Path) -> Self {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Self {
            dir: dir.to_owned(),
        }
    }

    fn blob(&self, data: &[u8]) -> Digest {
        let d = Digest::of(data);
        fs::write(self.dir.join("blobs/sha256").join(hex(&d)), data).unwrap();
        d
    }

    fn descriptor(&self, media_type: &str, data: &[u8]) -> Value {
        json!({"mediaType": media_type, "digest": self.blob(data).to_string(), "size": data.len()})
    }

    /// An image of gzipped `layers` for `arch`; returns its manifest descriptor.
    fn image(&self, arch: &str, layers: &[Vec<u8>]) -> (Value, Built) {
        let mut descriptors = Vec::new();
        let mut built = Built {
            manifest: Digest::of(b""),
            config: Digest::of(b""),
            layers: Vec::new(),
            diff_ids: Vec::new(),
        };
        for tar in layers {
            let gz = gzip(tar);
            built.layers.push(Digest::of(&gz));
            built.diff_ids.push(Digest::of(tar));
            descriptors.push(self.descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &gz));
        }
        let config = serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/hello"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": built.diff_ids.iter().map(Digest::to_string).collect::<Vec<_>>()}
        }))
        .unwrap();
        built.config = Digest::of(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": self.descriptor("application/vnd.oci.image.config.v1+json", &config),
            "layers": descriptors
        }))
        .unwrap();
        built.manifest = Digest::of(&manifest);
        let mut descriptor =
            self.descriptor("application/vnd.oci.image.manifest.v1+json", &manifest);
        descriptor["platform"] = json!({"os": "linux", "architecture": arch});
        (descriptor, built)
    }

    /// Writes index.json naming `descriptor` as `tag`.
    fn tag(&self, mut descriptor: Value, tag: &str) {
        descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        let index = json!({"schemaVersion": 2, "manifests": [descriptor]});
        fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }

    /// An image index blob over `manifests`; returns its descriptor.
    fn index(&self, manifests: Vec<Value>) -> Value {
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests
        }))
        .unwrap();
        self.descriptor("application/vnd.oci.image.index.v1+json", &index)
    }
}

fn two_layers() -> Vec<Vec<u8>> {
    vec![
        layer_tar(&[("bin/hello", b"v1"), ("etc/os", b"fog")]),
        layer_tar(&[("bin/hello", b"v2")]),
    ]
}

/// A registry holding a two-layer image as `app:v1`.
fn registry_with_app(auth: bool) -> (Registry, tempfile::TempDir, Built) {
    let registry = Registry::start(auth);
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(&work.path().join("layout"));
    let (descriptor, built) = layout.image("amd64", &two_layers());
    layout.tag(descriptor, "v1");
    registry.push(&layout.dir, "v1", "app", &[]);
    (registry, work, built)
}

fn tmp_is_empty(store_dir: &Path) -> bool {
    fs::read_dir(store_dir.join("tmp"))
        .unwrap()
        .next()
        .is_none()
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn a_pushed_image_pulls_into_the_store_and_unpacks() {
    let (registry, work, built) = registry_with_app(false);
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let image = pull(&store, &registry.reference("app:v1"), &registry.options())
        .await
        .unwrap();

    assert_eq!(image.manifest, built.manifest);
    assert_eq!(image.config_digest, built.config);
    let digests: Vec<_> = image.layers.iter().map(|l| l.digest.clone()).collect();
    let diff_ids: Vec<_> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(digests, built.layers);
    assert_eq!(diff_ids, built.diff_ids);
    assert!(
        image
            .layers
            .iter()
            .all(|l| l.compression == Compression::Gzip)
    );
    assert!(image.blobs().all(|d| store.contains(d)));
    assert!(tmp_is_empty(&work.path().join("store")));
    let cmd = image.config.config().as_ref().unwrap().cmd().clone();
    assert_eq!(cmd.unwrap(), ["/bin/hello"]);

    let root = work.path().join("rootfs");
    unpack_layers(&image.layers, &root).unwrap();
    assert_eq!(fs::read(root.join("bin/hello")).unwrap(), b"v2");
    assert_eq!(fs::read(root.join("etc/os")).unwrap(), b"fog");
}

#[tokio::test]
async fn a_pull_by_digest_gets_the_same_image() {
    let (registry, work, built) = registry_with_app(false);
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let reference = registry.reference(&format!("app@{}", built.manifest));
    let image = pull(&store, &reference, &registry.options()).await.unwrap();
    assert_eq!(image.manifest, built.manifest);
    assert_eq!(image.layers.len(), 2);
}

#[tokio::test]
async fn a_second_pull_reuses_stored_blobs() {
    let (registry, work, built) = registry_with_app(false);
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let first = pull(&store, &registry.reference("app:v1"), &registry.options())
        .await
        .unwrap();
    // Were the blobs fetched again, these would now fail their digest check.
    registry.tamper(&built.config);
    for layer in &built.layers {
        registry.tamper(layer);
    }
    let second = pull(&store, &registry.reference("app:v1"), &registry.options())
        .await
        .unwrap();
    assert_eq!(second.manifest, first.manifest);
    assert_eq!(
        second.blobs().collect::<Vec<_>>(),
        first.blobs().collect::<Vec<_>>()
    );
    unpack_layers(&second.layers, &work.path().join("rootfs")).unwrap();
}

#[tokio::test]
async fn a_tampered_layer_is_rejected_and_nothing_is_stored() {
    let (registry, work, built) = registry_with_app(false);
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let bad = &built.layers[1];
    registry.tamper(bad);
    let err = pull(&store, &registry.reference("app:v1"), &registry.options())
        .await
        .unwrap_err();
    match &err {
        RegistryError::DigestMismatch {
            blob,
            expected,
            actual,
            ..
        } => {
            assert_eq!(expected, bad);
            assert_ne!(actual, bad);
            assert!(blob.contains("layer 2 of 2"), "{blob}");
        }
        other => panic!("expected a digest mismatch, got: {other}"),
    }
    assert!(err.to_string().contains(&bad.to_string()), "{err}");
    assert!(!store.contains(bad));
    assert!(!store.contains(&built.manifest));
    assert!(tmp_is_empty(&work.path().join("store")));
}

#[tokio::test]
async fn a_blob_larger_than_its_descriptor_says_is_refused_and_nothing_is_stored() {
    let (registry, work, built) = registry_with_app(false);
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let big = &built.layers[0];
    let mut data = fs::read(registry.blob_file(big)).unwrap();
    data.extend_from_slice(&[0u8; 4096]);
    fs::write(registry.blob_file(big), data).unwrap();
    let err = pull(&store, &registry.reference("app:v1"), &registry.options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Oversized { digest, .. } if digest == big),
        "{err}"
    );
    assert!(!store.contains(big));
    assert!(tmp_is_empty(&work.path().join("store")));
}

#[tokio::test]
async fn a_tampered_config_is_rejected_and_nothing_is_stored() {
    let (registry, work, built) = registry_with_app(false);
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    registry.tamper(&built.config);
    let err = pull(&store, &registry.reference("app:v1"), &registry.options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::DigestMismatch { expected, .. } if *expected == built.config),
        "{err}"
    );
    assert!(!store.contains(&built.config));
}

#[tokio::test]
async fn a_manifest_not_matching_the_digest_asked_for_is_rejected() {
    let (registry, work, built) = registry_with_app(false);
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    // The registry parses the manifests it serves: keep it valid JSON.
    registry.tamper_json(&built.manifest);
    let reference = registry.reference(&format!("app@{}", built.manifest));
    let err = pull(&store, &reference, &registry.options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::DigestMismatch { expected, .. } if *expected == built.manifest),
        "{err}"
    );
    assert!(!store.contains(&built.manifest));
}

#[tokio::test]
async fn an_unknown_tag_is_reported_as_not_found() {
    let (registry, work, _) = registry_with_app(false);
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let err = pull(&store, &registry.reference("app:nope"), &registry.options())
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("app:nope"), "{err}");
}

#[tokio::test]
async fn an_unknown_repository_is_reported_as_not_found() {
    let (registry, work, _) = registry_with_app(false);
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let err = pull(
        &store,
        &registry.reference("nothing:v1"),
        &registry.options(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn an_unreachable_registry_is_reported_with_its_address() {
    let work = tempfile::tempdir().unwrap();
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let port = free_port(); // nothing listens there any more
    let host = format!("127.0.0.1:{port}");
    let options = PullOptions {
        plain_http: vec![host.clone()],
        ..PullOptions::default()
    };
    let err = pull(&store, &format!("{host}/app:v1"), &options)
        .await
        .unwrap_err();
    match &err {
        RegistryError::Unreachable { address, .. } => {
            assert_eq!(address, &format!("http://{host}"))
        }
        other => panic!("expected unreachable, got: {other}"),
    }
}

#[tokio::test]
async fn a_plain_http_registry_not_listed_as_such_is_unreachable_over_https() {
    let (registry, work, _) = registry_with_app(false);
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let options = PullOptions {
        plain_http: Vec::new(),
        ..registry.options()
    };
    let err = pull(&store, &registry.reference("app:v1"), &options)
        .await
        .unwrap_err();
    match &err {
        RegistryError::Unreachable { address, .. } => {
            assert_eq!(address, &format!("https://{}", registry.host()))
        }
        other => panic!("expected unreachable, got: {other}"),
    }
    assert!(err.to_string().contains("plain_http"), "{err}");
}

#[tokio::test]
async fn an_invalid_reference_is_refused_before_any_request() {
    let work = tempfile::tempdir().unwrap();
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let err = pull(&store, "Not A Reference!", &PullOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::BadReference { .. }), "{err}");
}

#[tokio::test]
async fn docker_schema2_images_pull_with_their_docker_media_types() {
    let registry = Registry::start(false);
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(&work.path().join("layout"));
    let (descriptor, built) = layout.image("amd64", &two_layers());
    layout.tag(descriptor, "v1");
    registry.push(&layout.dir, "v1", "docker-app", &["--format", "v2s2"]);

    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let image = pull(
        &store,
        &registry.reference("docker-app:v1"),
        &registry.options(),
    )
    .await
    .unwrap();
    let manifest: Value =
        serde_json::from_slice(&fs::read(store.path(&image.manifest)).unwrap()).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    let digests: Vec<_> = image.layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(digests, built.layers);
    assert!(
        image
            .layers
            .iter()
            .all(|l| l.compression == Compression::Gzip)
    );
    let root = work.path().join("rootfs");
    unpack_layers(&image.layers, &root).unwrap();
    assert_eq!(fs::read(root.join("bin/hello")).unwrap(), b"v2");
}

/// A registry holding `multi:v1`, an index of an amd64 and an arm64 image.
fn registry_with_multi_platform() -> (Registry, tempfile::TempDir, Built, Built) {
    let registry = Registry::start(false);
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(&work.path().join("layout"));
    let (amd64, amd64_built) = layout.image("amd64", &[layer_tar(&[("arch", b"amd64")])]);
    let (arm64, arm64_built) = layout.image("arm64", &[layer_tar(&[("arch", b"arm64")])]);
    let index = layout.index(vec![arm64, amd64]);
    layout.tag(index, "v1");
    registry.push(&layout.dir, "v1", "multi", &["--all"]);
    (registry, work, amd64_built, arm64_built)
}

#[tokio::test]
async fn a_multi_platform_index_yields_linux_amd64_by_default() {
    let (registry, work, amd64, _) = registry_with_multi_platform();
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let image = pull(&store, &registry.reference("multi:v1"), &registry.options())
        .await
        .unwrap();
    assert_eq!(image.manifest, amd64.manifest);
    let root = work.path().join("rootfs");
    unpack_layers(&image.layers, &root).unwrap();
    assert_eq!(fs::read(root.join("arch")).unwrap(), b"amd64");
}

#[tokio::test]
async fn a_multi_platform_index_yields_the_platform_asked_for() {
    let (registry, work, _, arm64) = registry_with_multi_platform();
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let options = PullOptions {
        platform: Platform {
            architecture: "arm64".into(),
            ..Platform::default()
        },
        ..registry.options()
    };
    let image = pull(&store, &registry.reference("multi:v1"), &options)
        .await
        .unwrap();
    assert_eq!(image.manifest, arm64.manifest);
    assert_eq!(image.config.architecture().to_string(), "arm64");
}

#[tokio::test]
async fn a_platform_missing_from_the_index_is_reported_with_those_available() {
    let (registry, work, _, _) = registry_with_multi_platform();
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let options = PullOptions {
        platform: Platform {
            architecture: "riscv64".into(),
            ..Platform::default()
        },
        ..registry.options()
    };
    let err = pull(&store, &registry.reference("multi:v1"), &options)
        .await
        .unwrap_err();
    match &err {
        RegistryError::NoMatchingPlatform { available, .. } => {
            assert_eq!(available, &["linux/arm64", "linux/amd64"])
        }
        other => panic!("expected no matching platform, got: {other}"),
    }
}

#[tokio::test]
async fn an_artifact_that_is_not_a_container_image_is_refused_before_fetching_blobs() {
    let registry = Registry::start(false);
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(&work.path().join("layout"));
    let config = br#"{"chart":"not a container"}"#;
    let layer = gzip(&layer_tar(&[("a", b"a")]));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": layout.descriptor("application/vnd.cncf.helm.config.v1+json", config),
        "layers": [layout.descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &layer)]
    }))
    .unwrap();
    layout.tag(
        layout.descriptor("application/vnd.oci.image.manifest.v1+json", &manifest),
        "v1",
    );
    registry.push(&layout.dir, "v1", "chart", &[]);

    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let err = pull(&store, &registry.reference("chart:v1"), &registry.options())
        .await
        .unwrap_err();
    match &err {
        RegistryError::UnsupportedMediaType { media_type, .. } => {
            assert_eq!(media_type, "application/vnd.cncf.helm.config.v1+json")
        }
        other => panic!("expected unsupported media type, got: {other}"),
    }
    assert!(!store.contains(&Digest::of(config)));
    assert!(!store.contains(&Digest::of(&layer)));
}

#[tokio::test]
async fn basic_auth_credentials_let_the_pull_through() {
    let (registry, work, built) = registry_with_app(true);
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let image = pull(&store, &registry.reference("app:v1"), &registry.options())
        .await
        .unwrap();
    assert_eq!(image.manifest, built.manifest);
    assert!(image.blobs().all(|d| store.contains(d)));
}

#[tokio::test]
async fn a_wrong_password_is_refused_as_an_auth_error() {
    let (registry, work, _) = registry_with_app(true);
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let options = PullOptions {
        auth: Auth::Basic {
            username: USER.into(),
            password: "wrong".into(),
        },
        ..registry.options()
    };
    let err = pull(&store, &registry.reference("app:v1"), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::AuthRefused { .. }), "{err}");
    assert!(!err.to_string().contains("wrong"), "{err}");
}

#[tokio::test]
async fn an_anonymous_pull_from_a_private_registry_is_refused_as_an_auth_error() {
    let (registry, work, _) = registry_with_app(true);
    let store = BlobStore::open(&work.path().join("store")).unwrap();
    let options = PullOptions {
        auth: Auth::Anonymous,
        ..registry.options()
    };
    let err = pull(&store, &registry.reference("app:v1"), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::AuthRefused { .. }), "{err}");
}
