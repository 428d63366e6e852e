//! `fog-runtime`: daemonless containers for fogmarket's workers.
//!
//! [`image`] keeps a content-addressed blob store shared by all containers
//! and loads uploaded image archives (OCI layout or `docker save`) into it,
//! every blob verified against its digest. [`layer`] applies layers: each blob is checked
//! against the manifest's digest and the image config's `diff_id`, then
//! applied to a root filesystem with OCI whiteouts, resolving every path
//! inside the root so that no layer can write outside it.
//! [`layer::unpack_layers`] builds a root from a stack of layers in a staging
//! directory and moves it into place only when all of them checked out.
//!
//! Not yet here (see ARCHITECTURE.md): registry pulls, the content-addressed
//! layer cache, containers through libcontainer, limits, hardening, logs,
//! networking, GPUs and recovery. The runtime knows nothing of markets.
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
