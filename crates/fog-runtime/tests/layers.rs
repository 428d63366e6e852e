//! Image layers as untrusted input: verified, unpacked with whiteouts, and
//! never writing outside the root, whatever the tar says.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use fog_runtime::layer::{Compression, Digest, LayerBlob, LayerError, apply_layer, unpack_layers};

/// A tar built entry by entry, names written raw so that tests can craft
/// what a hostile image would.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }

    fn entry(mut self, name: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>) -> Self {
        let mut h = tar::Header::new_old();
        let raw = name.as_bytes();
        h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        if let Some(link) = link {
            let raw = link.as_bytes();
            h.as_old_mut().linkname[..raw.len()].copy_from_slice(raw);
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(name, tar::EntryType::Regular, data, None)
    }

    fn dir(self, name: &str) -> Self {
        self.entry(name, tar::EntryType::Directory, b"", None)
    }

    fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(name, tar::EntryType::Symlink, b"", Some(target))
    }

    fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(name, tar::EntryType::Link, b"", Some(target))
    }

    /// Writes the tar (gzipped) under `dir` and describes it as a layer.
    fn layer(self, dir: &Path, name: &str) -> LayerBlob {
        let tar = self.0.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let blob = gz.finish().unwrap();
        let path = dir.join(name);
        fs::write(&path, &blob).unwrap();
        LayerBlob {
            path,
            digest: Digest::of(&blob),
            diff_id: Digest::of(&tar),
            compression: Compression::Gzip,
        }
    }
}

/// A sandbox: `root` to unpack into, `outside` a sibling that must stay empty.
struct Sandbox {
    _dir: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
    outside: PathBuf,
}

fn sandbox() -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_owned();
    let root = base.join("a/b/rootfs");
    let outside = base.join("outside");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    Sandbox {
        _dir: dir,
        base,
        root,
        outside,
    }
}

fn nothing_written_outside(s: &Sandbox) {
    assert_eq!(
        fs::read_dir(&s.outside).unwrap().count(),
        0,
        "something was written outside the root"
    );
    assert!(!s.base.join("a/pwned").exists() && !s.base.join("a/b/pwned").exists());
}

fn escape(r: Result<impl std::fmt::Debug, LayerError>) -> String {
    match r {
        Err(e @ LayerError::Escape { .. }) => e.to_string(),
        other => panic!("expected an escape error, got {other:?}"),
    }
}

#[test]
fn a_layer_unpacks_files_directories_and_links() {
    let s = sandbox();
    let layer = Tar::new()
        .dir("etc")
        .file("etc/hostname", b"box")
        .symlink("etc/name", "hostname")
        .hardlink("etc/hardname", "etc/hostname")
        .file("./bin/tool", b"#!/bin/sh")
        .layer(&s.base, "l1");
    let applied = apply_layer(&layer, &s.root).unwrap();
    assert_eq!(applied.entries, 5);
    assert_eq!(fs::read(s.root.join("etc/name")).unwrap(), b"box");
    assert_eq!(fs::read(s.root.join("etc/hardname")).unwrap(), b"box");
    assert_eq!(fs::read(s.root.join("bin/tool")).unwrap(), b"#!/bin/sh");
}

#[test]
fn an_absolute_entry_path_is_refused() {
    let s = sandbox();
    let path = format!("{}/pwned", s.outside.display());
    let layer = Tar::new().file(&path, b"x").layer(&s.base, "l1");
    assert!(escape(apply_layer(&layer, &s.root)).contains("absolute"));
    nothing_written_outside(&s);
}

#[test]
fn a_dot_dot_entry_path_is_refused() {
    let s = sandbox();
    let layer = Tar::new()
        .file("../../../outside/pwned", b"x")
        .layer(&s.base, "l1");
    assert!(escape(apply_layer(&layer, &s.root)).contains(".."));
    nothing_written_outside(&s);
}

#[test]
fn writing_through_a_symlink_that_climbs_out_is_refused() {
    let s = sandbox();
    let layer = Tar::new()
        .symlink("evil", "../../../outside")
        .file("evil/pwned", b"x")
        .layer(&s.base, "l1");
    assert!(escape(apply_layer(&layer, &s.root)).contains("climbs above the root"));
    nothing_written_outside(&s);
}

#[test]
fn a_symlink_planted_by_a_lower_layer_cannot_be_used_to_climb_out() {
    let s = sandbox();
    let lower = Tar::new()
        .symlink("up", "../../../outside")
        .layer(&s.base, "l1");
    let upper = Tar::new().file("up/pwned", b"x").layer(&s.base, "l2");
    apply_layer(&lower, &s.root).unwrap();
    assert!(escape(apply_layer(&upper, &s.root)).contains("climbs"));
    nothing_written_outside(&s);
}

#[test]
fn an_absolute_symlink_is_followed_inside_the_root() {
    let s = sandbox();
    let target = s.outside.display().to_string();
    let layer = Tar::new()
        .symlink("evil", &target)
        .file("evil/inside", b"x")
        .layer(&s.base, "l1");
    apply_layer(&layer, &s.root).unwrap();
    let contained = s.root.join(target.trim_start_matches('/')).join("inside");
    assert_eq!(fs::read(contained).unwrap(), b"x");
    nothing_written_outside(&s);
}

#[test]
fn a_hardlink_to_a_host_file_is_refused() {
    let s = sandbox();
    let host_file = s.outside.join("secret");
    fs::write(&host_file, b"s").unwrap();
    let layer = Tar::new()
        .hardlink("stolen", &host_file.display().to_string())
        .layer(&s.base, "l1");
    assert!(escape(apply_layer(&layer, &s.root)).contains("absolute"));
    let layer = Tar::new()
        .hardlink("stolen", "../../../outside/secret")
        .layer(&s.base, "l2");
    assert!(escape(apply_layer(&layer, &s.root)).contains(".."));
    assert!(!s.root.join("stolen").exists());
}

#[test]
fn a_hardlink_through_a_symlink_to_the_host_is_refused() {
    let s = sandbox();
    fs::write(s.outside.join("secret"), b"s").unwrap();
    let layer = Tar::new()
        .symlink("up", "../../../outside")
        .hardlink("stolen", "up/secret")
        .layer(&s.base, "l1");
    assert!(escape(apply_layer(&layer, &s.root)).contains("climbs"));
    assert!(!s.root.join("stolen").exists());
}

#[test]
fn device_nodes_are_refused() {
    let s = sandbox();
    let layer = Tar::new()
        .entry("dev/sda", tar::EntryType::Block, b"", None)
        .layer(&s.base, "l1");
    assert!(matches!(
        apply_layer(&layer, &s.root),
        Err(LayerError::Forbidden {
            kind: "block device",
            ..
        })
    ));
}

#[test]
fn a_whiteout_removes_a_lower_layers_file() {
    let s = sandbox();
    let lower = Tar::new()
        .file("etc/old", b"1")
        .file("etc/keep", b"2")
        .layer(&s.base, "l1");
    let upper = Tar::new().file("etc/.wh.old", b"").layer(&s.base, "l2");
    apply_layer(&lower, &s.root).unwrap();
    let applied = apply_layer(&upper, &s.root).unwrap();
    assert_eq!(applied.whiteouts, 1);
    assert!(!s.root.join("etc/old").exists());
    assert!(s.root.join("etc/keep").exists());
    assert!(!s.root.join("etc/.wh.old").exists());
}

#[test]
fn an_opaque_whiteout_hides_only_lower_layers_contents() {
    let s = sandbox();
    let lower = Tar::new()
        .file("data/a", b"1")
        .file("data/b", b"2")
        .layer(&s.base, "l1");
    let upper = Tar::new()
        .file("data/new", b"3")
        .file("data/.wh..wh..opq", b"")
        .layer(&s.base, "l2");
    apply_layer(&lower, &s.root).unwrap();
    apply_layer(&upper, &s.root).unwrap();
    let mut left: Vec<String> = fs::read_dir(s.root.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["new"]);
}

#[test]
fn a_blob_whose_digest_differs_from_the_manifest_is_refused() {
    let s = sandbox();
    let mut layer = Tar::new().file("f", b"x").layer(&s.base, "l1");
    layer.digest = Digest::of(b"something else");
    assert!(matches!(
        apply_layer(&layer, &s.root),
        Err(LayerError::DigestMismatch { .. })
    ));
    assert!(
        !s.root.join("f").exists(),
        "nothing is unpacked before the digest checks out"
    );
}

#[test]
fn a_layer_whose_diff_id_differs_leaves_no_root_behind() {
    let s = sandbox();
    let good = Tar::new().file("f", b"x").layer(&s.base, "l1");
    let mut bad = Tar::new().file("g", b"y").layer(&s.base, "l2");
    bad.diff_id = Digest::of(b"not this tar");
    let dest = s.base.join("image-root");
    let r = unpack_layers(&[good, bad], &dest);
    assert!(matches!(r, Err(LayerError::DiffIdMismatch { .. })), "{r:?}");
    assert!(!dest.exists());
    assert!(!s.base.join(".image-root.staging").exists());
}

#[test]
fn layers_stack_into_a_root_moved_into_place_whole() {
    let s = sandbox();
    let l1 = Tar::new().file("etc/a", b"1").layer(&s.base, "l1");
    let l2 = Tar::new().file("etc/a", b"2").layer(&s.base, "l2");
    let dest = s.base.join("image-root");
    unpack_layers(&[l1, l2], &dest).unwrap();
    assert_eq!(fs::read(dest.join("etc/a")).unwrap(), b"2");
}

#[test]
fn a_malformed_digest_string_is_refused_with_the_expected_form() {
    let e = Digest::parse("md5:abc").unwrap_err();
    assert!(e.to_string().contains("sha256:<64 hex digits>"));
    let d = Digest::of(b"x");
    assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
}

#[test]
fn a_whiteout_naming_its_own_or_parent_directory_is_refused() {
    for name in ["etc/.wh..", "etc/.wh...", "etc/.wh."] {
        let s = sandbox();
        let lower = Tar::new().file("etc/keep", b"1").layer(&s.base, "l1");
        apply_layer(&lower, &s.root).unwrap();
        let upper = Tar::new().file(name, b"").layer(&s.base, "l2");
        let message = escape(apply_layer(&upper, &s.root));
        assert!(message.contains("whiteout"), "{name}: {message}");
        assert!(
            s.root.join("etc/keep").exists(),
            "{name} removed a directory"
        );
        assert!(s.outside.exists() && s.root.exists());
    }
}

#[test]
fn entries_keep_their_owner_and_sticky_bit_but_not_setuid() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let s = sandbox();
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, kind: tar::EntryType, mode: u32, uid: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(0);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        tar.append_data(&mut h, name, &b""[..]).unwrap();
    };
    add("tmp", tar::EntryType::Directory, 0o1777, 0);
    add("home/app", tar::EntryType::Directory, 0o750, 101);
    add("home/app/tool", tar::EntryType::Regular, 0o4755, 101);
    let bytes = tar.into_inner().unwrap();
    let path = s.base.join("owners.tar");
    fs::write(&path, &bytes).unwrap();
    let layer = LayerBlob {
        path,
        digest: Digest::of(&bytes),
        diff_id: Digest::of(&bytes),
        compression: Compression::None,
    };
    apply_layer(&layer, &s.root).unwrap();
    let tmp = fs::metadata(s.root.join("tmp")).unwrap();
    assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
    let tool = fs::metadata(s.root.join("home/app/tool")).unwrap();
    assert_eq!(tool.permissions().mode() & 0o7777, 0o755, "setuid stripped");
    if nix::unistd::geteuid().is_root() {
        assert_eq!((tool.uid(), tool.gid()), (101, 101));
    }
}
