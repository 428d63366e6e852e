//! `fog-runtime`: daemonless containers for fogmarket's workers.
//!
//! [`runtime::Runtime`] is the API the worker uses: create a container from
//! an [`image::Image`] and a [`spec::TaskSpec`], start, wait, stop, kill,
//! delete, read its status and logs, and find containers again after a
//! restart. Images come from a registry ([`registry`]) or an uploaded archive
//! ([`image`]) into a content-addressed blob store, every blob verified;
//! [`layer`] unpacks them with whiteouts and never writes outside the root.
//! Each container runs through libcontainer in its own [`shim`] process,
//! under the deal's limits and the hardening of [`spec`], on the network of
//! [`network`], with GPUs from [`gpu`] descriptions and output in
//! size-capped [`logs`]. [`check`] is `fog worker check`; [`busybox`] builds
//! the tiny image it and the benchmark start. The runtime knows nothing of
//! markets. ARCHITECTURE.md has the layout on disk and the invariants.
//!
//! ```
//! use fog_runtime::layer::{Compression, Digest, LayerBlob, unpack_layers};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let mut tar = tar::Builder::new(Vec::new());
//! let mut header = tar::Header::new_gnu();
//! header.set_size(5);
//! header.set_mode(0o644);
//! tar.append_data(&mut header, "hello.txt", &b"hello"[..])?;
//! let bytes = tar.into_inner()?;
//! std::fs::write(dir.path().join("layer.tar"), &bytes)?;
//! let layer = LayerBlob {
//!     path: dir.path().join("layer.tar"),
//!     digest: Digest::of(&bytes),
//!     diff_id: Digest::of(&bytes),
//!     compression: Compression::None,
//! };
//! unpack_layers(&[layer], &dir.path().join("rootfs"))?;
//! assert_eq!(std::fs::read(dir.path().join("rootfs/hello.txt"))?, b"hello");
//! # Ok(())
//! # }
//! ```

pub mod busybox;
pub mod check;
pub mod gpu;
pub mod image;
pub mod layer;
pub mod logs;
pub mod network;
pub mod registry;
pub mod runtime;
pub mod shim;
pub mod spec;
