//! GPUs passed into containers from device descriptions.
//!
//! The worker scans its hardware into [`GpuDevice`] descriptions (stored as
//! JSON, read with [`load_descriptions`]): the device nodes a GPU needs, the
//! host's driver libraries and tools that must match the kernel driver, and
//! the environment that tells the software in the container which GPUs it
//! has. [`spec_additions`] checks them and turns the GPUs a container gets
//! into what its OCI spec needs:
//!
//! - the device nodes, created in the container (`linux.devices`);
//! - device-cgroup rules allowing `rwm` on exactly those nodes and nothing
//!   else (`linux.resources.devices`, after the runtime's default deny);
//! - read-only bind mounts of the libraries and binaries at their host paths
//!   (`bind`, `ro`, `nosuid`, `nodev`);
//! - environment variables (`process.env`).
//!
//! Nodes shared by several GPUs (`/dev/nvidiactl`, `/dev/nvidia-uvm`,
//! `/dev/kfd`) and shared libraries appear once. A description is
//! untrusted input as far as paths go: device nodes must lie under `/dev`,
//! and no path may be relative or contain `..`.
//!
//! ```
//! use fog_runtime::gpu::{DeviceKind, DeviceNode, GpuDevice, GpuVendor, spec_additions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let gpu = GpuDevice {
//!     vendor: GpuVendor::Intel,
//!     model: "Intel Arc A770".into(),
//!     memory_bytes: 16 << 30,
//!     pci_bus_id: "0000:03:00.0".into(),
//!     uuid: None,
//!     driver_version: None,
//!     device_nodes: vec![DeviceNode {
//!         path: "/dev/dri/renderD128".into(),
//!         kind: DeviceKind::Char,
//!         major: 226,
//!         minor: 128,
//!         file_mode: 0o666,
//!     }],
//!     driver_libraries: vec![],
//!     binaries: vec![],
//!     env: Default::default(),
//! };
//! let spec = spec_additions(&[gpu])?;
//! assert_eq!(spec.devices.len(), 1);
//! assert_eq!(spec.device_rules[0].to_string(), "c 226:128 rwm");
//! # Ok(())
//! # }
//! ```

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fs, io,
    path::{Component, Path, PathBuf},
};

use libcontainer::oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, Mount};
use serde::{Deserialize, Serialize};

/// Who made a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuVendor {
    /// NVIDIA (CUDA).
    Nvidia,
    /// AMD (ROCm).
    Amd,
    /// Intel (oneAPI, Level Zero).
    Intel,
}

/// Whether a device node is a character or a block device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// A character device (all GPU nodes are).
    Char,
    /// A block device.
    Block,
}

impl DeviceKind {
    fn oci(self) -> LinuxDeviceType {
        match self {
            Self::Char => LinuxDeviceType::C,
            Self::Block => LinuxDeviceType::B,
        }
    }
}

/// A device node a GPU needs in the container, as found on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceNode {
    /// Its path, on the host and in the container: under `/dev`.
    pub path: PathBuf,
    /// Character or block.
    pub kind: DeviceKind,
    /// The major device number (below 4096).
    pub major: u32,
    /// The minor device number (below 2^20).
    pub minor: u32,
    /// Permission bits of the node created in the container (0666 if the
    /// description leaves it out; JSON has no octal, so 0666 is written 438).
    #[serde(default = "default_file_mode")]
    pub file_mode: u32,
}

fn default_file_mode() -> u32 {
    0o666
}

/// One GPU as the worker's hardware scan describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuDevice {
    /// Who made it.
    pub vendor: GpuVendor,
    /// The model's marketing name, e.g. `NVIDIA A100-SXM4-80GB`.
    pub model: String,
    /// Its memory in bytes.
    pub memory_bytes: u64,
    /// Its PCI address, e.g. `0000:07:00.0`; names it in errors and must be
    /// unique among the GPUs given to one container.
    pub pci_bus_id: String,
    /// The vendor's stable identifier, e.g. `GPU-…` for NVIDIA, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The host driver's version, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    /// The device nodes it needs, its own and shared control nodes alike.
    pub device_nodes: Vec<DeviceNode>,
    /// Host driver libraries bind-mounted read-only at the same path (e.g.
    /// `libcuda.so.1`; a symlink is followed, so list the name programs
    /// load).
    #[serde(default)]
    pub driver_libraries: Vec<PathBuf>,
    /// Host tools bind-mounted read-only at the same path (e.g.
    /// `nvidia-smi`).
    #[serde(default)]
    pub binaries: Vec<PathBuf>,
    /// Environment for the container. When several GPUs set the same
    /// variable, their distinct values are joined with `,` in order: per-GPU
    /// lists such as `NVIDIA_VISIBLE_DEVICES` add up, shared settings such
    /// as `NVIDIA_DRIVER_CAPABILITIES` stay as they are.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl GpuDevice {
    /// How errors name this GPU.
    fn label(&self) -> String {
        format!("GPU {} ({})", self.pci_bus_id, self.model)
    }
}

/// What a container's OCI spec needs for its GPUs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GpuSpec {
    /// Device nodes to create (`linux.devices`), each path once.
    pub devices: Vec<LinuxDevice>,
    /// Device-cgroup rules allowing `rwm` on exactly those nodes
    /// (`linux.resources.devices`), each major:minor once.
    pub device_rules: Vec<LinuxDeviceCgroup>,
    /// Read-only bind mounts of driver libraries and binaries (`mounts`).
    pub mounts: Vec<Mount>,
    /// `KEY=value` entries for `process.env`, sorted by key.
    pub env: Vec<String>,
}

/// Why GPU descriptions were refused.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// A description breaks a rule.
    #[error("{gpu}: {problem}")]
    Invalid {
        /// The GPU, by PCI address and model.
        gpu: String,
        /// What is wrong and what is expected.
        problem: String,
    },
    /// Two GPUs describe the same node path as different devices.
    #[error(
        "{gpu} describes device node {path} as {this}, but {other_gpu} describes it as {other}: \
         the descriptions come from different scans or are wrong; rescan the host's GPUs"
    )]
    ConflictingNode {
        /// The GPU whose description disagrees.
        gpu: String,
        /// The node.
        path: PathBuf,
        /// What this GPU says.
        this: String,
        /// The GPU that described it first.
        other_gpu: String,
        /// What that GPU says.
        other: String,
    },
    /// The descriptions file cannot be read.
    #[error("reading GPU descriptions {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The descriptions file is not a JSON array of descriptions.
    #[error(
        "GPU descriptions {path} are not a JSON array of GPU descriptions: {source} (rescan the \
         host's GPUs to rewrite the file)"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why parsing failed.
        #[source]
        source: serde_json::Error,
    },
}

/// Reads a JSON array of [`GpuDevice`] descriptions from `path` and checks
/// each one (as [`spec_additions`] does).
pub fn load_descriptions(path: impl AsRef<Path>) -> Result<Vec<GpuDevice>, GpuError> {
    let path = path.as_ref();
    let text = fs::read(path).map_err(|source| GpuError::Read {
        path: path.to_owned(),
        source,
    })?;
    let gpus: Vec<GpuDevice> = serde_json::from_slice(&text).map_err(|source| GpuError::Parse {
        path: path.to_owned(),
        source,
    })?;
    for gpu in &gpus {
        validate(gpu)?;
    }
    Ok(gpus)
}

/// Checks `gpus` and turns them into the devices, cgroup rules, mounts and
/// environment a container that gets them needs. Nodes, rules and mounts
/// shared between GPUs appear once, in the order first described.
pub fn spec_additions(gpus: &[GpuDevice]) -> Result<GpuSpec, GpuError> {
    let mut spec = GpuSpec::default();
    let mut pci_ids: HashSet<&str> = HashSet::new();
    let mut nodes: HashMap<&Path, (&DeviceNode, &GpuDevice)> = HashMap::new();
    let mut rules: HashSet<(DeviceKind, u32, u32)> = HashSet::new();
    let mut mounted: HashSet<&Path> = HashSet::new();
    let mut env: BTreeMap<&str, Vec<&str>> = BTreeMap::new();

    for gpu in gpus {
        validate(gpu)?;
        if !pci_ids.insert(&gpu.pci_bus_id) {
            return Err(invalid(
                gpu,
                "is given twice: each GPU goes to a container once".into(),
            ));
        }
        for node in &gpu.device_nodes {
            if let Some((first, first_gpu)) = nodes.get(node.path.as_path()) {
                if *first != node {
                    return Err(GpuError::ConflictingNode {
                        gpu: gpu.label(),
                        path: node.path.clone(),
                        this: describe(node),
                        other_gpu: first_gpu.label(),
                        other: describe(first),
                    });
                }
                continue;
            }
            nodes.insert(&node.path, (node, gpu));
            spec.devices.push(device(node));
            if rules.insert((node.kind, node.major, node.minor)) {
                spec.device_rules.push(rule(node));
            }
        }
        for path in gpu.driver_libraries.iter().chain(&gpu.binaries) {
            if mounted.insert(path) {
                spec.mounts.push(read_only_bind(path));
            }
        }
        for (key, value) in &gpu.env {
            let values = env.entry(key).or_default();
            if !values.contains(&value.as_str()) {
                values.push(value);
            }
        }
    }
    spec.env = env
        .into_iter()
        .map(|(key, values)| format!("{key}={}", values.join(",")))
        .collect();
    Ok(spec)
}

fn invalid(gpu: &GpuDevice, problem: String) -> GpuError {
    GpuError::Invalid {
        gpu: gpu.label(),
        problem,
    }
}

fn describe(node: &DeviceNode) -> String {
    let kind = match node.kind {
        DeviceKind::Char => "c",
        DeviceKind::Block => "b",
    };
    format!(
        "{kind} {}:{} mode {:o}",
        node.major, node.minor, node.file_mode
    )
}

/// Checks one description on its own.
fn validate(gpu: &GpuDevice) -> Result<(), GpuError> {
    if gpu.device_nodes.is_empty() {
        return Err(invalid(
            gpu,
            "lists no device nodes: a GPU needs at least its own node (e.g. /dev/nvidia0 or \
             /dev/dri/renderD128)"
                .into(),
        ));
    }
    for node in &gpu.device_nodes {
        check_device_path(&node.path).map_err(|why| {
            invalid(
                gpu,
                format!("device node {:?} {why}", node.path.display().to_string()),
            )
        })?;
        if node.major >= 1 << 12 || node.minor >= 1 << 20 {
            return Err(invalid(
                gpu,
                format!(
                    "device node {} has number {}:{}, beyond Linux's limits (major below 4096, \
                     minor below 1048576)",
                    node.path.display(),
                    node.major,
                    node.minor
                ),
            ));
        }
        if node.file_mode > 0o777 {
            return Err(invalid(
                gpu,
                format!(
                    "device node {} has file mode {:o}: only permission bits (at most 777 \
                     octal, 511 decimal) are allowed",
                    node.path.display(),
                    node.file_mode
                ),
            ));
        }
    }
    for (what, path) in gpu
        .driver_libraries
        .iter()
        .map(|p| ("driver library", p))
        .chain(gpu.binaries.iter().map(|p| ("binary", p)))
    {
        check_host_path(path).map_err(|why| {
            invalid(
                gpu,
                format!("{what} {:?} {why}", path.display().to_string()),
            )
        })?;
    }
    for (key, value) in &gpu.env {
        if key.is_empty() || key.contains(['=', '\0']) {
            return Err(invalid(
                gpu,
                format!(
                    "environment variable name {key:?} is not valid: it must be non-empty, \
                     without '=' or NUL"
                ),
            ));
        }
        if value.contains('\0') {
            return Err(invalid(
                gpu,
                format!("environment variable {key} has a NUL byte in its value"),
            ));
        }
    }
    Ok(())
}

/// Why `path` is not a plain absolute path (`Ok` if it is).
fn check_absolute(path: &Path) -> Result<(), &'static str> {
    if !path.is_absolute() {
        return Err("is not absolute: give the full path");
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err("contains `..`: give the path without it");
    }
    Ok(())
}

fn check_device_path(path: &Path) -> Result<(), &'static str> {
    check_absolute(path)?;
    let mut parts = path.components().skip(1);
    if parts.next() != Some(Component::Normal("dev".as_ref())) || parts.next().is_none() {
        return Err("is not under /dev: device nodes must be host devices in /dev");
    }
    Ok(())
}

fn check_host_path(path: &Path) -> Result<(), &'static str> {
    check_absolute(path)?;
    if path.components().count() < 2 {
        return Err("is the root directory: name the file to mount");
    }
    Ok(())
}

fn device(node: &DeviceNode) -> LinuxDevice {
    let mut device = LinuxDevice::default();
    device
        .set_path(node.path.clone())
        .set_typ(node.kind.oci())
        .set_major(i64::from(node.major))
        .set_minor(i64::from(node.minor))
        .set_file_mode(Some(node.file_mode));
    device
}

fn rule(node: &DeviceNode) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(true)
        .set_typ(Some(node.kind.oci()))
        .set_major(Some(i64::from(node.major)))
        .set_minor(Some(i64::from(node.minor)))
        .set_access(Some("rwm".to_owned()));
    rule
}

fn read_only_bind(path: &Path) -> Mount {
    let mut mount = Mount::default();
    mount
        .set_destination(path.to_owned())
        .set_typ(Some("bind".to_owned()))
        .set_source(Some(path.to_owned()))
        .set_options(Some(
            ["bind", "ro", "nosuid", "nodev"].map(String::from).to_vec(),
        ));
    mount
}
