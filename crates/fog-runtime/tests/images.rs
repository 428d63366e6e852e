//! Uploaded image archives: an OCI image layout or a `docker save` tarball
//! loads into the content-addressed store, every blob checked against its
//! digest, and unpacks into a root filesystem.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{fs, io::Write, path::Path};

use fog_runtime::{
    image::{BlobStore, ImageError, load_archive},
    layer::{Digest, LayerError, unpack_layers},
};
use serde_json::json;

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

fn hex(d: &Digest) -> String {
    d.to_string().trim_start_matches("sha256:").to_owned()
}

fn config(diff_ids: &[Digest]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/hello"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(Digest::to_string).collect::<Vec<_>>()}
    }))
    .unwrap()
}

/// Writes an OCI image layout tar with the given layer tars; `tamper` changes a layer blob's bytes.
fn oci_archive(dir: &Path, layers: &[Vec<u8>], tamper: bool) -> std::path::PathBuf {
    let mut blobs: Vec<(Digest, Vec<u8>)> = Vec::new();
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for tar in layers {
        let gz = gzip(tar);
        let d = Digest::of(&gz);
        diff_ids.push(Digest::of(tar));
        descriptors.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d.to_string(), "size": gz.len()}));
        blobs.push((d, gz));
    }
    let cfg = config(&diff_ids);
    let cfg_d = Digest::of(&cfg);
    blobs.push((cfg_d.clone(), cfg.clone()));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d.to_string(), "size": cfg.len()},
        "layers": descriptors
    }))
    .unwrap();
    let man_d = Digest::of(&manifest);
    blobs.push((man_d.clone(), manifest.clone()));
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man_d.to_string(), "size": manifest.len()}]
    }))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", &index);
    for (i, (d, data)) in blobs.iter().enumerate() {
        let mut data = data.clone();
        if tamper && i == 0 {
            data.push(0);
        }
        add(&format!("blobs/sha256/{}", hex(d)), &data);
    }
    let path = dir.join("image.tar");
    fs::write(&path, b.into_inner().unwrap()).unwrap();
    path
}

#[test]
fn an_oci_archive_loads_and_unpacks_into_a_root() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(&dir.path().join("blobs")).unwrap();
    let layers = vec![
        layer_tar(&[("bin/hello", b"v1"), ("etc/os", b"fog")]),
        layer_tar(&[("bin/hello", b"v2")]),
    ];
    let image = load_archive(&oci_archive(dir.path(), &layers, false), &store).unwrap();
    assert_eq!(image.layers.len(), 2);
    let cmd = image
        .config
        .config()
        .as_ref()
        .unwrap()
        .cmd()
        .clone()
        .unwrap();
    assert_eq!(cmd, ["/bin/hello"]);
    let root = dir.path().join("rootfs");
    unpack_layers(&image.layers, &root).unwrap();
    assert_eq!(fs::read(root.join("bin/hello")).unwrap(), b"v2");
    assert_eq!(fs::read(root.join("etc/os")).unwrap(), b"fog");
}

#[test]
fn a_blob_that_lies_about_its_digest_is_refused_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(&dir.path().join("blobs")).unwrap();
    let layers = vec![layer_tar(&[("f", b"x")])];
    let r = load_archive(&oci_archive(dir.path(), &layers, true), &store);
    assert!(
        matches!(r, Err(ImageError::Layer(LayerError::DigestMismatch { .. }))),
        "{r:?}"
    );
    assert_eq!(
        fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        fs::read_dir(dir.path().join("blobs/tmp")).unwrap().count(),
        0
    );
}

#[test]
fn images_sharing_a_layer_store_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(&dir.path().join("blobs")).unwrap();
    let base = layer_tar(&[("etc/os", b"fog")]);
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    let one = load_archive(&oci_archive(&a, std::slice::from_ref(&base), false), &store).unwrap();
    let two = load_archive(
        &oci_archive(&b, &[base, layer_tar(&[("x", b"y")])], false),
        &store,
    )
    .unwrap();
    assert_eq!(one.layers[0].digest, two.layers[0].digest);
    // one shared layer + one extra layer + 2 configs + 2 manifests
    assert_eq!(
        fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .count(),
        6
    );
}

#[test]
fn a_docker_save_tarball_loads() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(&dir.path().join("blobs")).unwrap();
    let layer = layer_tar(&[("bin/sh", b"busybox")]);
    let cfg = config(&[Digest::of(&layer)]);
    let manifest = serde_json::to_vec(
        &json!([{"Config": "abc.json", "RepoTags": ["demo:1"], "Layers": ["l1/layer.tar"]}]),
    )
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("manifest.json", &manifest),
        ("abc.json", &cfg),
        ("l1/layer.tar", &layer),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    let path = dir.path().join("docker.tar");
    fs::write(&path, b.into_inner().unwrap()).unwrap();
    let image = load_archive(&path, &store).unwrap();
    let root = dir.path().join("rootfs");
    unpack_layers(&image.layers, &root).unwrap();
    assert_eq!(fs::read(root.join("bin/sh")).unwrap(), b"busybox");
}

#[test]
fn an_archive_that_is_no_image_says_what_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(&dir.path().join("blobs")).unwrap();
    let path = dir.path().join("nothing.tar");
    fs::write(&path, layer_tar(&[("readme", b"hi")])).unwrap();
    let e = load_archive(&path, &store).unwrap_err();
    assert!(
        e.to_string()
            .contains("neither index.json (OCI layout) nor manifest.json (docker save)"),
        "{e}"
    );
}

#[test]
fn garbage_collection_keeps_the_blobs_of_images_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(&dir.path().join("blobs")).unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    let shared = layer_tar(&[("etc/os", b"fog")]);
    let kept = load_archive(
        &oci_archive(&a, std::slice::from_ref(&shared), false),
        &store,
    )
    .unwrap();
    let dropped = load_archive(
        &oci_archive(&b, &[shared, layer_tar(&[("x", b"y")])], false),
        &store,
    )
    .unwrap();
    let removed = store.collect_garbage(kept.blobs()).unwrap();
    assert_eq!(
        removed, 3,
        "the dropped image's own layer, config and manifest"
    );
    for d in kept.blobs() {
        assert!(store.contains(d));
    }
    assert!(!store.contains(&dropped.layers[1].digest));
    let root = dir.path().join("rootfs");
    unpack_layers(&kept.layers, &root).unwrap();
    assert_eq!(fs::read(root.join("etc/os")).unwrap(), b"fog");
}
