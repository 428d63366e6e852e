//! From an image's config and a customer's task to an OCI runtime spec:
//! the process to run, the deal's limits and the hardening every container
//! gets whether it asks or not.
//!
//! Hardening, all of it on by default and none of it optional except the user
//! namespace: every namespace (pid, net, ipc, uts, mount, cgroup), no new
//! privileges, capabilities cut to [`DEFAULT_CAPABILITIES`], the kernel paths
//! runc masks or makes read-only, a read-only `/sys`, and [`default_seccomp`].
//! Privileged containers do not exist here: nothing in [`TaskSpec`] can ask
//! for the host's namespaces, devices or capabilities.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{
    Arch, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDevice,
    LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxIdMappingBuilder,
    LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder,
    LinuxResourcesBuilder, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscallBuilder, Mount, MountBuilder,
    PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec, UserBuilder,
};
use oci_spec::OciSpecError;
use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

/// What a customer asks to run, on top of the image's own config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Replaces the image's entrypoint when set.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's command (the arguments after the entrypoint) when set.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// `KEY=value` pairs added to (and overriding) the image's environment.
    #[serde(default)]
    pub env: Vec<String>,
    /// Replaces the image's working directory when set.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// `user`, `uid`, `user:group` or `uid:gid`; replaces the image's user when set.
    #[serde(default)]
    pub user: Option<String>,
    /// The deal's resources.
    #[serde(default)]
    pub limits: Limits,
    /// Maps the container's root to an unprivileged range of host ids.
    #[serde(default)]
    pub user_namespace: Option<IdMapping>,
    /// Refused: a privileged container would own the supplier's machine.
    /// The field exists so that a request for it fails loudly instead of
    /// being silently ignored.
    #[serde(default)]
    pub privileged: bool,
}

/// The resources a deal bought; `None` leaves that resource unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU time in thousandths of a core (1500 = one and a half cores).
    pub cpu_millicores: Option<u64>,
    /// Memory (and, on cgroup v1, memory + swap) in bytes.
    pub memory_bytes: Option<u64>,
    /// Number of processes and threads; `None` means [`DEFAULT_PIDS`]: no
    /// deal buys enough processes to exhaust the host's pid space.
    pub pids: Option<u64>,
    /// Size of the container's writable layer in bytes.
    pub disk_bytes: Option<u64>,
}

/// The host ids that the container's ids `0..size` map to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapping {
    /// The host uid and gid that container id 0 becomes.
    pub host_id: u32,
    /// How many ids are mapped.
    pub size: u32,
}

/// Why a task cannot be turned into a container.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The task asked for privileged mode.
    #[error(
        "privileged containers are refused: a task runs with the default hardening; \
         ask for devices (GPUs) or ports instead"
    )]
    PrivilegedRefused,
    /// Neither the task nor the image says what to run.
    #[error("nothing to run: the image has no entrypoint or command; give the task a command")]
    NoCommand,
    /// An environment entry is not `KEY=value`.
    #[error("environment entry {0:?} is not KEY=value")]
    BadEnv(String),
    /// The user could not be resolved.
    #[error("user {user:?}: {reason}")]
    BadUser {
        /// What the task or image asked for.
        user: String,
        /// Why it did not resolve.
        reason: String,
    },
    /// A limit is out of range.
    #[error("limit {name} = {value} is out of range: {hint}")]
    BadLimit {
        /// Which limit.
        name: &'static str,
        /// The value given.
        value: u64,
        /// What is accepted.
        hint: &'static str,
    },
    /// A user namespace mapping that would reach the host's own users.
    #[error(
        "user namespace mapping {0:?} is refused: map to host ids from 100000 up, 1 to 65536 of them"
    )]
    BadUserNamespace(IdMapping),
    /// An argument, environment entry or directory holds a NUL byte.
    #[error("{0:?} contains a NUL byte, which no process argument can hold; remove it")]
    NulByte(String),
    /// The working directory is not absolute.
    #[error("working directory {0:?} must be an absolute path")]
    BadWorkingDir(String),
    /// oci-spec refused a value.
    #[error("building the runtime spec: {0}")]
    Oci(#[from] OciSpecError),
}

/// Capabilities a container keeps: what ordinary services need to start as
/// root and drop to a user, and nothing that reaches the kernel or the
/// network stack below sockets (no `NET_RAW`, no `MKNOD`, no `SYS_*`).
pub const DEFAULT_CAPABILITIES: [Capability; 11] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::AuditWrite,
];

/// The process limit of a task that names none.
pub const DEFAULT_PIDS: u64 = 4096;

/// The CFS period the CPU quota is expressed in (100 ms, the kernel's default).
const CPU_PERIOD_US: u64 = 100_000;

/// Syscalls refused with `EPERM`: kernel surfaces a tenant has no business
/// with (modules, kexec, keyrings, BPF, perf, io_uring, userfaultfd), clock
/// and system state, mounting and namespace games. Most already need a
/// capability the container lacks; the filter is the second wall.
///
/// This is a deny-list over an allow-by-default filter, not Docker's
/// allow-list: with the capability set above the result is as strict for the
/// calls that matter and does not break new but harmless syscalls.
const DENIED_SYSCALLS: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "personality",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "_sysctl",
    "syslog",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vhangup",
];

/// `clone` flags that would create a namespace.
const CLONE_NAMESPACE_FLAGS: [u64; 7] = [
    0x0002_0000, // CLONE_NEWNS
    0x0200_0000, // CLONE_NEWCGROUP
    0x0400_0000, // CLONE_NEWUTS
    0x0800_0000, // CLONE_NEWIPC
    0x1000_0000, // CLONE_NEWUSER
    0x2000_0000, // CLONE_NEWPID
    0x4000_0000, // CLONE_NEWNET
];

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// The seccomp filter every container gets.
///
/// Besides [`DENIED_SYSCALLS`]: `clone` with any namespace flag is refused,
/// and `clone3` answers `ENOSYS` (its flags sit behind a pointer a filter
/// cannot read), which makes libc fall back to `clone`.
pub fn default_seccomp() -> Result<LinuxSeccomp, SpecError> {
    let mut syscalls = vec![
        LinuxSyscallBuilder::default()
            .names(
                DENIED_SYSCALLS
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            )
            .action(LinuxSeccompAction::ScmpActErrno)
            .errno_ret(EPERM)
            .build()?,
        LinuxSyscallBuilder::default()
            .names(vec!["clone3".to_string()])
            .action(LinuxSeccompAction::ScmpActErrno)
            .errno_ret(ENOSYS)
            .build()?,
    ];
    for flag in CLONE_NAMESPACE_FLAGS {
        let arg = LinuxSeccompArgBuilder::default()
            .index(0usize)
            .value(flag)
            .value_two(flag)
            .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
            .build()?;
        syscalls.push(
            LinuxSyscallBuilder::default()
                .names(vec!["clone".to_string()])
                .action(LinuxSeccompAction::ScmpActErrno)
                .errno_ret(EPERM)
                .args(vec![arg])
                .build()?,
        );
    }
    Ok(LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(vec![
            Arch::ScmpArchX86_64,
            Arch::ScmpArchX86,
            Arch::ScmpArchX32,
        ])
        .syscalls(syscalls)
        .build()?)
}

/// Devices, mounts and environment a container gets beyond the defaults
/// (GPUs, generated `/etc` files).
#[derive(Clone, Debug, Default)]
pub struct Additions {
    /// Device nodes created inside the container.
    pub devices: Vec<LinuxDevice>,
    /// Device cgroup rules allowing exactly those devices.
    pub device_rules: Vec<LinuxDeviceCgroup>,
    /// Extra mounts (read-only binds of driver libraries, `/etc/hosts`...).
    pub mounts: Vec<Mount>,
    /// Extra `KEY=value` environment entries.
    pub env: Vec<String>,
}

/// Everything [`build`] needs besides the task.
#[derive(Clone, Debug)]
pub struct SpecInputs<'a> {
    /// The image's config (entrypoint, command, env, user, working dir).
    pub image: &'a ImageConfiguration,
    /// The container's root filesystem as mounted on the host.
    pub rootfs: &'a Path,
    /// The container's hostname.
    pub hostname: &'a str,
    /// The cgroup path, relative to the cgroup roots.
    pub cgroup_path: PathBuf,
    /// A network namespace to join; `None` gives a fresh one with only loopback.
    pub netns: Option<&'a Path>,
    /// GPUs, generated files.
    pub additions: Additions,
}

/// Builds the OCI runtime spec for `task` on an image.
pub fn build(task: &TaskSpec, inputs: SpecInputs<'_>) -> Result<Spec, SpecError> {
    if task.privileged {
        return Err(SpecError::PrivilegedRefused);
    }
    let image_config = inputs.image.config().as_ref();
    let args = process_args(task, image_config)?;
    let env = merge_env(
        image_config.and_then(|c| c.env().as_ref()),
        &task.env,
        &inputs.additions.env,
    )?;
    let cwd = task
        .working_dir
        .clone()
        .or_else(|| image_config.and_then(|c| c.working_dir().clone()))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/".to_string());
    if !cwd.starts_with('/') {
        return Err(SpecError::BadWorkingDir(cwd));
    }
    // The kernel takes C strings: a NUL would cut an argument silently.
    if let Some(bad) = args
        .iter()
        .chain(&env)
        .chain([&cwd])
        .find(|s| s.contains('\0'))
    {
        return Err(SpecError::NulByte(bad.replace('\0', "\\0")));
    }
    let user_name = task
        .user
        .clone()
        .or_else(|| image_config.and_then(|c| c.user().clone()));
    let (uid, gid) = match user_name.as_deref().filter(|u| !u.is_empty()) {
        Some(user) => resolve_user(user, inputs.rootfs)?,
        None => (0, 0),
    };

    // 64Ki open files, or the host's own hard limit if lower: raising a
    // hard limit past the runtime's own can be refused (EPERM) in a sandbox.
    let open_files = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(_, hard)| hard.min(65_536))
        .unwrap_or(1024);
    let caps: HashSet<Capability> = DEFAULT_CAPABILITIES.iter().copied().collect();
    // A non-root user gets no capabilities in effect (as with Docker): the
    // set above is root's, kept as the bounding set.
    let active = if uid == 0 {
        caps.clone()
    } else {
        HashSet::new()
    };
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps)
        .effective(active.clone())
        .permitted(active)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()?;
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(args)
        .env(env)
        .cwd(cwd)
        // Supplementary groups set explicitly: otherwise the daemon's own
        // groups would be inherited.
        .user(
            UserBuilder::default()
                .uid(uid)
                .gid(gid)
                .additional_gids(vec![gid])
                .build()?,
        )
        .capabilities(capabilities)
        .no_new_privileges(true)
        .rlimits(vec![
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .soft(open_files)
                .hard(open_files)
                .build()?,
            // No core dumps: the host's core_pattern may pipe them to a host
            // program, and they would fill the supplier's disk.
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitCore)
                .soft(0u64)
                .hard(0u64)
                .build()?,
        ])
        // Neutral for the OOM killer whatever the daemon's own score (a
        // daemon at -1000 must not make its tenants unkillable).
        .oom_score_adj(0)
        .build()?;

    let mut namespaces = Vec::new();
    for typ in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
    ] {
        namespaces.push(LinuxNamespaceBuilder::default().typ(typ).build()?);
    }
    let mut net = LinuxNamespaceBuilder::default().typ(LinuxNamespaceType::Network);
    if let Some(path) = inputs.netns {
        net = net.path(path.to_path_buf());
    }
    namespaces.push(net.build()?);

    let mut linux = LinuxBuilder::default()
        .resources(resources(&task.limits, inputs.additions.device_rules)?)
        .cgroups_path(inputs.cgroup_path)
        .masked_paths(masked_paths())
        .readonly_paths(readonly_paths())
        .seccomp(default_seccomp()?)
        .devices(inputs.additions.devices);
    if let Some(map) = task.user_namespace {
        check_mapping(map)?;
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::User)
                .build()?,
        );
        let mapping = LinuxIdMappingBuilder::default()
            .host_id(map.host_id)
            .container_id(0u32)
            .size(map.size)
            .build()?;
        linux = linux
            .uid_mappings(vec![mapping])
            .gid_mappings(vec![mapping]);
    }
    let linux = linux.namespaces(namespaces).build()?;

    let mut spec = Spec::default();
    spec.set_hostname(Some(inputs.hostname.to_string()));
    spec.set_process(Some(process));
    spec.set_root(Some(
        RootBuilder::default()
            .path(inputs.rootfs)
            .readonly(false)
            .build()?,
    ));
    let mut mounts = default_mounts(task.user_namespace.is_some())?;
    mounts.extend(inputs.additions.mounts);
    spec.set_mounts(Some(mounts));
    spec.set_linux(Some(linux));
    Ok(spec)
}

/// The lowest host id a user namespace may map to: ids below belong to the
/// machine's own system and login users.
pub const MIN_MAPPED_HOST_ID: u32 = 100_000;

fn check_mapping(map: IdMapping) -> Result<(), SpecError> {
    let fits = map
        .host_id
        .checked_add(map.size)
        .is_some_and(|end| end < u32::MAX);
    if map.host_id < MIN_MAPPED_HOST_ID || !(1..=65_536).contains(&map.size) || !fits {
        return Err(SpecError::BadUserNamespace(map));
    }
    Ok(())
}

fn process_args(
    task: &TaskSpec,
    image: Option<&oci_spec::image::Config>,
) -> Result<Vec<String>, SpecError> {
    let entrypoint = match &task.entrypoint {
        Some(e) => e.clone(),
        None => image
            .and_then(|c| c.entrypoint().clone())
            .unwrap_or_default(),
    };
    // Like Docker: a new entrypoint drops the image's command.
    let command = match (&task.command, &task.entrypoint) {
        (Some(c), _) => c.clone(),
        (None, Some(_)) => Vec::new(),
        (None, None) => image.and_then(|c| c.cmd().clone()).unwrap_or_default(),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(command).collect();
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(args)
}

fn merge_env(
    image: Option<&Vec<String>>,
    task: &[String],
    extra: &[String],
) -> Result<Vec<String>, SpecError> {
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    merged.insert(
        "PATH".into(),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
    );
    let all = image.into_iter().flatten().chain(task).chain(extra);
    for entry in all {
        let Some((key, value)) = entry.split_once('=') else {
            return Err(SpecError::BadEnv(entry.clone()));
        };
        if key.is_empty() {
            return Err(SpecError::BadEnv(entry.clone()));
        }
        merged.insert(key.to_string(), value.to_string());
    }
    Ok(merged
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect())
}

/// Resolves `user[:group]` against the image's `/etc/passwd` and `/etc/group`.
fn resolve_user(spec: &str, rootfs: &Path) -> Result<(u32, u32), SpecError> {
    let bad = |reason: String| SpecError::BadUser {
        user: spec.to_string(),
        reason,
    };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = image_file(rootfs, "etc/passwd");
    let (uid, primary_gid) = match user.parse::<u32>() {
        Ok(uid) => {
            let gid = lookup(&passwd, |f| f.get(2) == Some(&user)).and_then(|f| parse_id(f.get(3)));
            (uid, gid.unwrap_or(uid))
        }
        Err(_) => {
            let fields = lookup(&passwd, |f| f.first() == Some(&user)).ok_or_else(|| {
                bad("no such user in the image's /etc/passwd; use a numeric uid".into())
            })?;
            match (parse_id(fields.get(2)), parse_id(fields.get(3))) {
                (Some(uid), Some(gid)) => (uid, gid),
                _ => return Err(bad("malformed /etc/passwd entry in the image".into())),
            }
        }
    };
    let gid = match group {
        None => primary_gid,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let groups = image_file(rootfs, "etc/group");
                let fields = lookup(&groups, |f| f.first() == Some(&g)).ok_or_else(|| {
                    bad(format!(
                        "no group {g:?} in the image's /etc/group; use a numeric gid"
                    ))
                })?;
                parse_id(fields.get(2))
                    .ok_or_else(|| bad("malformed /etc/group entry in the image".into()))?
            }
        },
    };
    if uid == u32::MAX || gid == u32::MAX {
        // setresuid(-1) means "leave unchanged": the process would stay root.
        return Err(bad("id 4294967295 is not a user; choose another".into()));
    }
    Ok((uid, gid))
}

/// An image's account file, read inside its root (an image's symlink cannot
/// make the runtime read a host file), at most 1 MiB.
fn image_file(rootfs: &Path, name: &str) -> String {
    crate::layer::read_image_file(rootfs, Path::new(name), 1 << 20).unwrap_or_default()
}

fn lookup(file: &str, matches: impl Fn(&[&str]) -> bool) -> Option<Vec<&str>> {
    file.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| matches(f))
}

fn parse_id(field: Option<&&str>) -> Option<u32> {
    field.and_then(|f| f.parse().ok())
}

fn resources(
    limits: &Limits,
    device_rules: Vec<LinuxDeviceCgroup>,
) -> Result<libcontainer::oci_spec::runtime::LinuxResources, SpecError> {
    let mut resources = LinuxResourcesBuilder::default();
    if let Some(milli) = limits.cpu_millicores {
        if milli == 0 || milli > 1_000_000 {
            return Err(SpecError::BadLimit {
                name: "cpu_millicores",
                value: milli,
                hint: "1..=1000000 (thousandths of a core)",
            });
        }
        // Quota per period: 1000 millicores = one full period. The kernel
        // refuses quotas below 1 ms.
        let quota = (milli * CPU_PERIOD_US / 1000).max(1000);
        resources = resources.cpu(
            LinuxCpuBuilder::default()
                .quota(quota as i64)
                .period(CPU_PERIOD_US)
                .build()?,
        );
    }
    if let Some(bytes) = limits.memory_bytes {
        if !(4 << 20..=i64::MAX as u64).contains(&bytes) {
            return Err(SpecError::BadLimit {
                name: "memory_bytes",
                value: bytes,
                hint: "at least 4 MiB",
            });
        }
        // Swap is counted in the same budget: a deal buys RAM, not disk as RAM.
        resources = resources.memory(
            LinuxMemoryBuilder::default()
                .limit(bytes as i64)
                .swap(bytes as i64)
                .build()?,
        );
    }
    {
        let pids = limits.pids.unwrap_or(DEFAULT_PIDS);
        if !(1..=4_194_304).contains(&pids) {
            return Err(SpecError::BadLimit {
                name: "pids",
                value: pids,
                hint: "1..=4194304",
            });
        }
        resources = resources.pids(LinuxPidsBuilder::default().limit(pids as i64).build()?);
    }
    // Deny every device, then allow the standard pseudo-devices and the ones
    // the task was given (GPUs).
    let mut rules = vec![
        LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()?,
    ];
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        rules.push(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(major)
                .minor(minor)
                .access("rwm")
                .build()?,
        );
    }
    // Pseudo-terminals (/dev/pts/*).
    rules.push(
        LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(136)
            .access("rwm")
            .build()?,
    );
    rules.extend(device_rules);
    Ok(resources.devices(rules).build()?)
}

fn masked_paths() -> Vec<String> {
    [
        "/proc/acpi",
        "/proc/asound",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/sys/devices/virtual/powercap",
        "/sys/firmware",
    ]
    .map(String::from)
    .to_vec()
}

fn readonly_paths() -> Vec<String> {
    [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .map(String::from)
    .to_vec()
}

fn default_mounts(user_namespace: bool) -> Result<Vec<Mount>, SpecError> {
    let mount = |dest: &str, typ: &str, source: &str, options: &[&str]| {
        MountBuilder::default()
            .destination(dest)
            .typ(typ)
            .source(source)
            .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
            .build()
    };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
    ];
    if user_namespace {
        // A user namespace may not mount sysfs for a network namespace it does
        // not own; bind the host's read-only instead, as runc does.
        mounts.push(mount(
            "/sys",
            "none",
            "/sys",
            // "rro": read-only all the way down (cgroupfs and the other
            // submounts too), not only at the top.
            &["rbind", "nosuid", "noexec", "nodev", "rro"],
        )?);
    } else {
        mounts.push(mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )?);
        mounts.push(mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        )?);
    }
    Ok(mounts)
}
