//! The container lifecycle: create, start, wait, stop, kill, delete, status,
//! and recovery after the daemon restarts.
//!
//! Layout under the runtime's root directory:
//! - `blobs/`: the content-addressed [`BlobStore`];
//! - `images/<chain id>/`: an image's unpacked root, shared read-only by all
//!   its containers as the lower layer of an overlay (the chain id hashes
//!   the layers' diff_ids in order, as the OCI spec defines it);
//! - `containers/<id>/`: one container: `container.json` (this module's
//!   record), `bundle/config.json`, `rootfs/` (the overlay), `upper/` and
//!   `work/` (the writable layer, on a size-capped ext4 image `disk.img`
//!   mounted at `disk/` when the deal limits disk), `etc/` (generated hosts,
//!   hostname, resolv.conf), `container.log`, and the shim's files;
//! - `state/`: libcontainer's state;
//! - `network/`: the network module's allocations.
//!
//! Every step that changes the host (mounts, cgroups, network namespaces,
//! processes) is undone by [`Runtime::delete`], which is idempotent; a crash
//! at any point is finished by [`Runtime::open`]'s recovery.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use libcontainer::container::Container;
use libcontainer::signal::Signal as LcSignal;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::gpu::GpuDevice;
use crate::image::{BlobStore, Image};
use crate::layer::LayerError;
use crate::logs::{LogQuery, LogReader};
use crate::network::{Network, NetworkConfig, NetworkError, NetworkMode};
use crate::shim::{EXIT_RECORD, ExitRecord, SHIM_CONFIG, ShimConfig, write_atomically};
use crate::spec::{self, Additions, SpecError, SpecInputs, TaskSpec};

/// How the runtime starts a shim: a program and the arguments before the
/// container directory. The `fog` binary runs itself as `fog runtime shim <dir>`.
#[derive(Clone, Debug)]
pub struct ShimCommand {
    /// The program (normally `std::env::current_exe()`).
    pub program: PathBuf,
    /// Arguments placed before the container directory.
    pub args: Vec<String>,
}

impl ShimCommand {
    /// The `fog` binary at `program`, as `fog runtime shim <dir>`.
    pub fn fog(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: vec!["runtime".into(), "shim".into()],
        }
    }
}

/// Where the runtime keeps its state and how it starts shims.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// The root of all runtime state (see the module docs for the layout).
    pub root: PathBuf,
    /// How to start a shim.
    pub shim: ShimCommand,
    /// Each container's log is rotated past this size (two files are kept).
    pub log_max_bytes: u64,
    /// The cgroup directory every container's cgroup is created under.
    pub cgroup_parent: String,
    /// Whether opening removes the host's fog networks that belong to no
    /// container of this runtime: right for the worker's one runtime, wrong
    /// for a side runtime (the self-test, a benchmark) that must not touch
    /// the worker's containers.
    pub owns_host_networks: bool,
}

impl RuntimeConfig {
    /// A config with defaults: 16 MiB of log per container, cgroups under
    /// `/fog`, owning the host's fog networks.
    pub fn new(root: impl Into<PathBuf>, shim: ShimCommand) -> Self {
        Self {
            root: root.into(),
            shim,
            log_max_bytes: 16 << 20,
            cgroup_parent: "fog".into(),
            owns_host_networks: true,
        }
    }
}

/// Everything a container is created from.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ContainerRequest {
    /// Unique id: 1-64 of `[A-Za-z0-9_.-]`, starting with a letter or digit.
    pub id: String,
    /// The task: command, env, user, limits.
    pub task: TaskSpec,
    /// Networking.
    #[serde(default)]
    pub network: NetworkMode,
    /// GPUs passed in.
    #[serde(default)]
    pub gpus: Vec<GpuDevice>,
}

/// Where a container is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerStatus {
    /// Created; its process waits for [`Runtime::start`].
    Created,
    /// Its process runs.
    Running,
    /// It ended.
    Exited {
        /// The exit code, when it exited by itself.
        code: Option<i32>,
        /// The signal that killed it, when one did.
        signal: Option<i32>,
        /// The kernel's OOM killer struck: the deal's memory was exceeded.
        oom_killed: bool,
    },
    /// It could not run, or it was lost (its shim died); the reason says which.
    Broken {
        /// What went wrong.
        reason: String,
    },
}

/// What the runtime remembers of a container, in `container.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    request: ContainerRequest,
    image_manifest: String,
    chain_id: String,
    created_at: String,
    shim_pid: Option<i32>,
    shim_start_ticks: Option<u64>,
    disk_mounted: bool,
    started: bool,
}

/// What recovery found when the runtime opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Containers whose shim still runs: they are managed again as if nothing happened.
    pub reattached: Vec<String>,
    /// Containers whose shim died: their processes were killed, their
    /// resources released, and they report [`ContainerStatus::Broken`].
    pub lost: Vec<String>,
    /// Half-created or half-deleted containers that were removed.
    pub removed: Vec<String>,
    /// Containers recovery could not finish, with why: the rest was still
    /// recovered; opening again (or deleting them) retries.
    pub failed: Vec<(String, String)>,
}

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The id is not acceptable.
    #[error(
        "container id {0:?} is invalid: use 1-64 of letters, digits, '_', '.', '-', starting with a letter or digit"
    )]
    BadId(String),
    /// A container with that id exists.
    #[error("container {0} already exists; delete it first or choose another id")]
    Exists(String),
    /// No container with that id.
    #[error("no container {0}")]
    NotFound(String),
    /// The operation does not fit the container's status.
    #[error("container {id} is {status}: {hint}")]
    WrongStatus {
        /// The container.
        id: String,
        /// Its status.
        status: String,
        /// What can be done instead.
        hint: &'static str,
    },
    /// The task could not be turned into a spec.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// An image layer failed to unpack.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Networking failed.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The log could not be read.
    #[error(transparent)]
    Logs(#[from] crate::logs::LogError),
    /// A GPU description was unusable.
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    /// The shim reported an error creating the container.
    #[error("creating container {id}: {message}")]
    Create {
        /// The container.
        id: String,
        /// What the shim reported.
        message: String,
    },
    /// libcontainer failed.
    #[error("container {id}: {action}: {message}")]
    Libcontainer {
        /// The container.
        id: String,
        /// What was being done.
        action: &'static str,
        /// libcontainer's message.
        message: String,
    },
    /// Waiting timed out.
    #[error("container {0} did not exit within the time given")]
    Timeout(String),
    /// A host operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
    let context = context.into();
    move |source| RuntimeError::Io { context, source }
}

const RECORD: &str = "container.json";

/// How long a shim may take to create its container.
const SHIM_REPORT_TIMEOUT: Duration = Duration::from_secs(120);

/// Serialises [`Runtime::start`] across the process (see there).
static START: Mutex<()> = Mutex::new(());
const DELETING: &str = "deleting";

/// The container runtime: one per worker, over one root directory.
#[derive(Debug)]
pub struct Runtime {
    config: RuntimeConfig,
    store: BlobStore,
    network: Network,
    /// Shims this process started, reaped when they exit.
    shims: Mutex<HashMap<String, Child>>,
    /// Serialises unpacking images into the shared cache.
    unpacking: Mutex<()>,
}

impl Runtime {
    /// Opens the runtime at `config.root` (created if missing) and recovers
    /// from whatever a previous process left: see [`Recovery`].
    pub fn open(mut config: RuntimeConfig) -> Result<(Self, Recovery), RuntimeError> {
        std::fs::create_dir_all(&config.root)
            .map_err(io_err(format!("creating {}", config.root.display())))?;
        config.root = config
            .root
            .canonicalize()
            .map_err(io_err(format!("resolving {}", config.root.display())))?;
        for sub in ["containers", "images", "state", "network"] {
            let dir = config.root.join(sub);
            std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        let store = BlobStore::open(&config.root.join("blobs"))?;
        // Nobody but root reads images, state or containers: a container's
        // root holds files its tenant chose (setuid binaries included).
        // `containers/` stays traversable for user-namespaced containers,
        // whose own directories are the only ones opened to them.
        for (sub, mode) in [
            ("", 0o711),
            ("containers", 0o711),
            ("images", 0o700),
            ("state", 0o700),
            ("network", 0o700),
            ("blobs", 0o700),
        ] {
            set_mode(&config.root.join(sub), mode)?;
        }
        let network = Network::open(&config.root.join("network"), NetworkConfig::default())?;
        let runtime = Self {
            config,
            store,
            network,
            shims: Mutex::new(HashMap::new()),
            unpacking: Mutex::new(()),
        };
        let recovery = runtime.recover()?;
        Ok((runtime, recovery))
    }

    /// The blob store images are kept in.
    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    /// The ids of all containers, in no particular order.
    pub fn list(&self) -> Result<Vec<String>, RuntimeError> {
        let dir = self.config.root.join("containers");
        let mut ids = Vec::new();
        for entry in
            std::fs::read_dir(&dir).map_err(io_err(format!("listing {}", dir.display())))?
        {
            let entry = entry.map_err(io_err(format!("listing {}", dir.display())))?;
            if let Some(name) = entry.file_name().to_str()
                && valid_id(name)
            {
                ids.push(name.to_string());
            }
        }
        Ok(ids)
    }

    /// Creates a container from `image`: unpacks the image (once per image),
    /// mounts the container's root, sets up its network, and has a shim
    /// create it. Its process waits for [`Runtime::start`]. On error,
    /// everything done so far is undone.
    pub fn create(&self, request: &ContainerRequest, image: &Image) -> Result<(), RuntimeError> {
        let id = &request.id;
        if !valid_id(id) {
            return Err(RuntimeError::BadId(id.clone()));
        }
        if request.task.privileged {
            return Err(SpecError::PrivilegedRefused.into());
        }
        let dir = self.container_dir(id);
        // Claiming the directory is the atomic test for a taken id.
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RuntimeError::Exists(id.clone()));
            }
            Err(e) => return Err(io_err(format!("creating {}", dir.display()))(e)),
        }
        let mode = if request.task.user_namespace.is_some() {
            0o711
        } else {
            0o700
        };
        let lower = set_mode(&dir, mode).and_then(|()| self.unpacked_image(image));
        let lower = match lower {
            Ok(lower) => lower,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let mut record = Record {
            request: request.clone(),
            image_manifest: image.manifest.to_string(),
            chain_id: chain_id(image),
            created_at: now(),
            shim_pid: None,
            shim_start_ticks: None,
            disk_mounted: false,
            started: false,
        };
        self.save(&record)?;
        match self.create_inner(&mut record, image, &lower) {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Err(cleanup) = self.delete(id) {
                    tracing::warn!(%id, error = %cleanup, "cleaning up a failed create");
                }
                Err(e)
            }
        }
    }

    fn create_inner(
        &self,
        record: &mut Record,
        image: &Image,
        lower: &Path,
    ) -> Result<(), RuntimeError> {
        let id = record.request.id.clone();
        let dir = self.container_dir(&id);
        let rootfs = dir.join("rootfs");

        // The writable layer, on its own size-capped filesystem when the deal limits disk.
        let writable = match record.request.task.limits.disk_bytes {
            Some(bytes) => {
                record.disk_mounted = true;
                self.save(record)?;
                mount_disk(&dir, bytes)?;
                dir.join("disk")
            }
            None => dir.clone(),
        };
        for sub in [
            writable.join("upper"),
            writable.join("work"),
            rootfs.clone(),
        ] {
            std::fs::create_dir_all(&sub).map_err(io_err(format!("creating {}", sub.display())))?;
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            writable.join("upper").display(),
            writable.join("work").display()
        );
        nix::mount::mount(
            Some("overlay"),
            &rootfs,
            Some("overlay"),
            MsFlags::empty(),
            Some(options.as_str()),
        )
        .map_err(|e| RuntimeError::Io {
            context: format!("mounting the overlay root of {id}"),
            source: e.into(),
        })?;

        let attachment = self.network.attach(&id, &record.request.network)?;
        let gpus = crate::gpu::spec_additions(&record.request.gpus)?;
        let mut additions = Additions {
            devices: gpus.devices,
            device_rules: gpus.device_rules,
            mounts: gpus.mounts,
            env: gpus.env,
        };
        let hostname = hostname(&id);
        additions.mounts.extend(etc_files(&dir, &hostname)?);

        let cgroup_path = self.cgroup_path(&id);
        let spec = spec::build(
            &record.request.task,
            SpecInputs {
                image: &image.config,
                rootfs: &rootfs,
                hostname: &hostname,
                cgroup_path: cgroup_path.clone(),
                netns: attachment.netns.as_deref(),
                additions,
            },
        )?;
        if record.request.task.user_namespace.is_some() {
            prepare_mount_points(&rootfs, spec.mounts().as_deref().unwrap_or_default())?;
        }
        let bundle = dir.join("bundle");
        std::fs::create_dir_all(&bundle).map_err(io_err("creating the bundle"))?;
        spec.save(bundle.join("config.json"))
            .map_err(|e| RuntimeError::Io {
                context: format!("writing the bundle of {id}"),
                source: std::io::Error::other(e.to_string()),
            })?;

        let shim_config = ShimConfig {
            id: id.clone(),
            bundle,
            state_root: self.config.root.join("state"),
            log_path: dir.join("container.log"),
            log_max_bytes: self.config.log_max_bytes,
            cgroup_path,
        };
        write_atomically(&dir.join(SHIM_CONFIG), &shim_config)
            .map_err(io_err("writing shim.json"))?;
        self.spawn_shim(record, &dir)
    }

    fn spawn_shim(&self, record: &mut Record, dir: &Path) -> Result<(), RuntimeError> {
        let id = record.request.id.clone();
        let shim_log =
            std::fs::File::create(dir.join("shim.log")).map_err(io_err("creating shim.log"))?;
        let mut child = {
            use std::os::unix::process::CommandExt;
            Command::new(&self.config.shim.program)
                .args(&self.config.shim.args)
                .arg(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(shim_log)
                // Its own process group: the daemon's death or a ^C does not take containers along.
                .process_group(0)
                .spawn()
                .map_err(io_err(format!(
                    "starting the shim {}",
                    self.config.shim.program.display()
                )))?
        };
        let pid = child.id() as i32;
        record.shim_pid = Some(pid);
        record.shim_start_ticks = process_stat(pid).map(|(_, ticks)| ticks);
        self.save(record)?;
        // The shim's first line, read on a thread so a wedged shim cannot
        // hang `create`: it is killed after SHIM_REPORT_TIMEOUT.
        let (tx, rx) = std::sync::mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut line = String::new();
                let _ = BufReader::new(stdout).read_line(&mut line);
                let _ = tx.send(line);
            });
        }
        let line = match rx.recv_timeout(SHIM_REPORT_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                format!(
                    "error the shim did not report within {} s and was killed",
                    SHIM_REPORT_TIMEOUT.as_secs()
                )
            }
        };
        self.lock_shims().insert(id.clone(), child);
        let message = match line.trim_end().split_once(' ') {
            Some(("created", _pid)) => return Ok(()),
            Some(("error", message)) => message.to_string(),
            _ => "the shim exited without reporting".to_string(),
        };
        // The shim's own log says why (libcontainer logs there); the
        // directory is removed with the failed container, so quote it.
        self.reap_shim(&id);
        // libcontainer's init process logs to the container's stderr.
        let details = std::fs::read_to_string(dir.join("shim.log")).unwrap_or_default()
            + &std::fs::read_to_string(dir.join("container.log")).unwrap_or_default();
        let errors: Vec<&str> = details.lines().filter(|l| l.contains("ERROR")).collect();
        let lines: Vec<&str> = if errors.is_empty() {
            details.lines().collect()
        } else {
            errors
        };
        let details: Vec<&str> = lines.into_iter().rev().take(5).collect();
        let details = details.into_iter().rev().collect::<Vec<_>>().join(" | ");
        let message = if details.is_empty() {
            message
        } else {
            format!("{message} ({details})")
        };
        Err(RuntimeError::Create { id, message })
    }

    /// Starts a created container's process.
    pub fn start(&self, id: &str) -> Result<(), RuntimeError> {
        let mut record = self.load(id)?;
        match self.status(id)? {
            ContainerStatus::Created => {}
            other => {
                return Err(RuntimeError::WrongStatus {
                    id: id.into(),
                    status: describe(&other),
                    hint: "only a created container can be started; create a new one",
                });
            }
        }
        let mut container = self.libcontainer(id)?;
        {
            // libcontainer reaches the container's notify socket by changing
            // the process's working directory for an instant: two starts at
            // once would notify the wrong container (seen in tests). Starts
            // are serialised, and the runtime only uses absolute paths.
            let _one_at_a_time = START.lock().unwrap_or_else(|p| p.into_inner());
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
            let started = container.start();
            // libcontainer does not change back when the notify fails.
            if std::env::current_dir().ok().as_ref() != Some(&cwd) {
                let _ = std::env::set_current_dir(&cwd);
            }
            started.map_err(|e| lc_err(id, "starting", e))?;
        }
        record.started = true;
        self.save(&record)
    }

    /// The container's status now.
    pub fn status(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        let record = self.load(id)?;
        self.reap_shim(id);
        if let Some(exit) = self.exit_record(id) {
            return Ok(status_of(&exit));
        }
        if !self.shim_alive(&record) {
            // Read again: the shim may have written its record just before exiting.
            if let Some(exit) = self.exit_record(id) {
                return Ok(status_of(&exit));
            }
            // Lost: kill what is left and release it now, not at the next restart.
            self.mark_lost(id)?;
            return Ok(self.exit_record(id).map(|e| status_of(&e)).unwrap_or(
                ContainerStatus::Broken {
                    reason: "its shim is gone".into(),
                },
            ));
        }
        Ok(if record.started {
            ContainerStatus::Running
        } else {
            ContainerStatus::Created
        })
    }

    /// Waits until the container has ended, at most `timeout`.
    pub fn wait(&self, id: &str, timeout: Duration) -> Result<ContainerStatus, RuntimeError> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status(id)?;
            if matches!(
                status,
                ContainerStatus::Exited { .. } | ContainerStatus::Broken { .. }
            ) {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(RuntimeError::Timeout(id.into()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` to the container's main process.
    pub fn kill(&self, id: &str, signal: Signal) -> Result<(), RuntimeError> {
        match self.status(id)? {
            ContainerStatus::Created | ContainerStatus::Running => {}
            other => {
                return Err(RuntimeError::WrongStatus {
                    id: id.into(),
                    status: describe(&other),
                    hint: "it has no process left to signal",
                });
            }
        }
        let mut container = self.libcontainer(id)?;
        let all = signal == Signal::SIGKILL;
        container
            .kill(LcSignal::from(signal), all)
            .map_err(|e| lc_err(id, "signalling", e))
    }

    /// Stops the container: SIGTERM, then SIGKILL to every process if it
    /// has not exited after `grace`. Returns how it ended.
    pub fn stop(&self, id: &str, grace: Duration) -> Result<ContainerStatus, RuntimeError> {
        match self.status(id)? {
            ContainerStatus::Created | ContainerStatus::Running => {}
            ended => return Ok(ended),
        }
        self.kill(id, Signal::SIGTERM)?;
        match self.wait(id, grace) {
            Ok(status) => Ok(status),
            Err(RuntimeError::Timeout(_)) => {
                // It may have ended between the timeout and now.
                if let Err(e) = self.kill(id, Signal::SIGKILL)
                    && !matches!(e, RuntimeError::WrongStatus { .. })
                {
                    return Err(e);
                }
                self.wait(id, Duration::from_secs(10))
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes the container: kills what still runs, then removes its
    /// cgroup, mounts, network and files. Idempotent: deleting what is
    /// half gone finishes the job; deleting what is gone is an error only
    /// if nothing at all was left.
    pub fn delete(&self, id: &str) -> Result<(), RuntimeError> {
        if !valid_id(id) {
            return Err(RuntimeError::BadId(id.into()));
        }
        let dir = self.container_dir(id);
        let state = self.config.root.join("state").join(id);
        if !dir.exists() && !state.exists() {
            return Err(RuntimeError::NotFound(id.into()));
        }
        if dir.exists() {
            std::fs::write(dir.join(DELETING), b"").map_err(io_err("marking for deletion"))?;
        }
        let record = self.load(id).ok();

        if state.exists() {
            match Container::load(state.clone()) {
                Ok(mut container) => {
                    // Kill every process, then let the shim record the end.
                    let _ = container.kill(LcSignal::from(Signal::SIGKILL), true);
                    if let Some(record) = &record {
                        let deadline = Instant::now() + Duration::from_secs(10);
                        while self.shim_alive(record) && Instant::now() < deadline {
                            self.reap_shim(id);
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                    container
                        .delete(true)
                        .map_err(|e| lc_err(id, "deleting", e))?;
                }
                Err(e) => {
                    tracing::warn!(%id, error = %e, "libcontainer state unreadable; removing it");
                    std::fs::remove_dir_all(&state)
                        .map_err(io_err("removing libcontainer state"))?;
                }
            }
        }
        if let Some(record) = &record
            && self.shim_alive(record)
            && let Some(pid) = record.shim_pid
        {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
        // A shim we started and killed: collect it, so it leaves no zombie.
        if let Some(mut child) = self.lock_shims().remove(id) {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.release_host_resources(id, &dir)?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_err(format!("removing {}", dir.display())))?;
        }
        Ok(())
    }

    /// Reads the container's output as `query` says; with `query.follow`,
    /// the lines keep coming until the container has ended.
    pub fn logs(
        &self,
        id: &str,
        query: LogQuery,
    ) -> Result<LogReader<impl FnMut() -> bool + '_>, RuntimeError> {
        let path = self.log_path(id)?;
        let id = id.to_string();
        // The shim writes exit.json only after the log pumps drained, so
        // "ended" means every line is in the file.
        let ended = move || {
            !matches!(
                self.status(&id),
                Ok(ContainerStatus::Created | ContainerStatus::Running)
            )
        };
        LogReader::open(path, query, ended).map_err(RuntimeError::from)
    }

    /// The container's log file (CRI format; see [`crate::logs`]).
    pub fn log_path(&self, id: &str) -> Result<PathBuf, RuntimeError> {
        self.load(id)?;
        Ok(self.container_dir(id).join("container.log"))
    }

    /// Removes the unpacked images that no container and none of `keep`
    /// uses, and every blob not in `keep` (a container needs only its
    /// unpacked root). Returns how many unpacked images were removed.
    pub fn collect_garbage(&self, keep: &[&Image]) -> Result<usize, RuntimeError> {
        let _guard = self.unpacking.lock().unwrap_or_else(|p| p.into_inner());
        let mut used_chains: Vec<String> = keep.iter().map(|i| chain_id(i)).collect();
        for id in self.list()? {
            if let Ok(record) = self.load(&id) {
                used_chains.push(record.chain_id);
            }
        }
        let images = self.config.root.join("images");
        let mut removed = 0;
        for entry in std::fs::read_dir(&images).map_err(io_err("listing unpacked images"))? {
            let entry = entry.map_err(io_err("listing unpacked images"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !used_chains.contains(&name) {
                std::fs::remove_dir_all(entry.path())
                    .map_err(io_err(format!("removing image {name}")))?;
                removed += 1;
            }
        }
        self.store
            .collect_garbage(keep.iter().flat_map(|i| i.blobs()))?;
        Ok(removed)
    }

    // ---- recovery ----

    fn recover(&self) -> Result<Recovery, RuntimeError> {
        let mut recovery = Recovery::default();
        let mut live = Vec::new();
        for id in self.list()? {
            let dir = self.container_dir(&id);
            let record = self.load(&id).ok();
            let finished = self.exit_record(&id).is_some();
            match record {
                Some(record) if !dir.join(DELETING).exists() => {
                    if finished {
                        live.push(id);
                    } else if self.shim_alive(&record) {
                        recovery.reattached.push(id.clone());
                        live.push(id);
                    } else if record.shim_pid.is_some() {
                        live.push(id.clone());
                        match self.mark_lost(&id) {
                            Ok(()) => recovery.lost.push(id),
                            Err(e) => recovery.failed.push((id, e.to_string())),
                        }
                    } else {
                        // Crashed before the shim started: nothing ran.
                        self.remove_during_recovery(&id, &mut recovery);
                    }
                }
                _ => self.remove_during_recovery(&id, &mut recovery),
            }
        }
        // libcontainer state without a container directory.
        let state = self.config.root.join("state");
        for entry in std::fs::read_dir(&state).map_err(io_err("listing libcontainer state"))? {
            let entry = entry.map_err(io_err("listing libcontainer state"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !live.contains(&name) && valid_id(&name) {
                self.remove_during_recovery(&name, &mut recovery);
            }
        }
        if self.config.owns_host_networks
            && let Err(e) = self.network.clean_orphans(&live)
        {
            recovery.failed.push(("network".into(), e.to_string()));
        }
        recovery.removed.sort();
        recovery.removed.dedup();
        Ok(recovery)
    }

    fn remove_during_recovery(&self, id: &str, recovery: &mut Recovery) {
        match self.delete(id) {
            Ok(()) => recovery.removed.push(id.to_string()),
            Err(e) => {
                tracing::warn!(%id, error = %e, "recovery could not remove a container");
                recovery.failed.push((id.to_string(), e.to_string()));
            }
        }
    }

    /// The shim of `id` died without recording an end: kill what is left of
    /// the container, release its resources, and record it as lost.
    fn mark_lost(&self, id: &str) -> Result<(), RuntimeError> {
        let state = self.config.root.join("state").join(id);
        if let Ok(mut container) = Container::load(state) {
            let _ = container.kill(LcSignal::from(Signal::SIGKILL), true);
            container
                .delete(true)
                .map_err(|e| lc_err(id, "deleting", e))?;
        }
        let dir = self.container_dir(id);
        self.release_host_resources(id, &dir)?;
        let record = ExitRecord {
            code: None,
            signal: None,
            oom_killed: false,
            finished_at: now(),
            error: Some("lost: its shim died; the container was killed and cleaned up".into()),
        };
        write_atomically(&dir.join(EXIT_RECORD), &record).map_err(io_err("writing exit.json"))
    }

    /// Unmounts the root and the disk image and detaches the network.
    fn release_host_resources(&self, id: &str, dir: &Path) -> Result<(), RuntimeError> {
        unmount_if_mounted(&dir.join("rootfs"))?;
        unmount_if_mounted(&dir.join("disk"))?;
        self.network.detach(id)?;
        Ok(())
    }

    // ---- helpers ----

    fn container_dir(&self, id: &str) -> PathBuf {
        self.config.root.join("containers").join(id)
    }

    fn cgroup_path(&self, id: &str) -> PathBuf {
        PathBuf::from(format!("/{}/{id}", self.config.cgroup_parent))
    }

    fn load(&self, id: &str) -> Result<Record, RuntimeError> {
        if !valid_id(id) {
            return Err(RuntimeError::BadId(id.into()));
        }
        let path = self.container_dir(id).join(RECORD);
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RuntimeError::NotFound(id.into()),
            _ => RuntimeError::Io {
                context: format!("reading {}", path.display()),
                source: e,
            },
        })?;
        serde_json::from_slice(&bytes).map_err(|e| RuntimeError::Io {
            context: format!("reading {}", path.display()),
            source: std::io::Error::other(e),
        })
    }

    fn save(&self, record: &Record) -> Result<(), RuntimeError> {
        let path = self.container_dir(&record.request.id).join(RECORD);
        write_atomically(&path, record).map_err(io_err(format!("writing {}", path.display())))
    }

    fn exit_record(&self, id: &str) -> Option<ExitRecord> {
        let bytes = std::fs::read(self.container_dir(id).join(EXIT_RECORD)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn libcontainer(&self, id: &str) -> Result<Container, RuntimeError> {
        Container::load(self.config.root.join("state").join(id))
            .map_err(|e| lc_err(id, "loading state", e))
    }

    fn lock_shims(&self) -> std::sync::MutexGuard<'_, HashMap<String, Child>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.shims.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Collects the exit of a shim this process started, so it leaves no zombie.
    fn reap_shim(&self, id: &str) {
        let mut shims = self.lock_shims();
        if let Some(child) = shims.get_mut(id)
            && let Ok(Some(_)) = child.try_wait()
        {
            shims.remove(id);
        }
    }

    fn shim_alive(&self, record: &Record) -> bool {
        let Some(pid) = record.shim_pid else {
            return false;
        };
        if let Some(child) = self.lock_shims().get_mut(&record.request.id) {
            return matches!(child.try_wait(), Ok(None));
        }
        // Not ours (we restarted): alive if the same process still holds the
        // pid and has not exited.
        match process_stat(pid) {
            Some((state, ticks)) => state != 'Z' && Some(ticks) == record.shim_start_ticks,
            None => false,
        }
    }

    /// The unpacked root of `image`, unpacking it on first use.
    fn unpacked_image(&self, image: &Image) -> Result<PathBuf, RuntimeError> {
        let dest = self.config.root.join("images").join(chain_id(image));
        let _guard = self.unpacking.lock().unwrap_or_else(|p| p.into_inner());
        if !dest.exists() {
            crate::layer::unpack_layers(&image.layers, &dest)?;
        }
        Ok(dest)
    }
}

/// The OCI chain id of an image's layers: its identity as a root filesystem.
pub fn chain_id(image: &Image) -> String {
    let mut chain: Option<String> = None;
    for layer in &image.layers {
        let diff = layer.diff_id.to_string();
        chain = Some(match chain {
            None => diff,
            Some(prev) => format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{prev} {diff}")))
            ),
        });
    }
    chain
        .map(|c| c.trim_start_matches("sha256:").to_string())
        .unwrap_or_else(|| "empty".into())
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn hostname(id: &str) -> String {
    id.chars().take(12).collect()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn status_of(exit: &ExitRecord) -> ContainerStatus {
    match &exit.error {
        Some(reason) => ContainerStatus::Broken {
            reason: reason.clone(),
        },
        None => ContainerStatus::Exited {
            code: exit.code,
            signal: exit.signal,
            oom_killed: exit.oom_killed,
        },
    }
}

fn describe(status: &ContainerStatus) -> String {
    match status {
        ContainerStatus::Created => "created".into(),
        ContainerStatus::Running => "running".into(),
        ContainerStatus::Exited { .. } => "exited".into(),
        ContainerStatus::Broken { reason } => format!("broken ({reason})"),
    }
}

fn lc_err(id: &str, action: &'static str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Libcontainer {
        id: id.into(),
        action,
        message: e.to_string(),
    }
}

/// A process's state letter and start time in clock ticks since boot
/// (`/proc/<pid>/stat` fields 3 and 22): with the pid, the start time names
/// one process even after pids wrap.
fn process_stat(pid: i32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it follow the last ')'.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    let state = fields.next()?.chars().next()?;
    let ticks = fields.nth(18)?.parse().ok()?;
    Some((state, ticks))
}

/// Creates and mounts a size-capped ext4 image for the writable layer.
/// mkfs and loop setup go through e2fsprogs and util-linux: the stable
/// interfaces every supplier has (setting up loop devices by ioctl would
/// need unsafe code).
fn mount_disk(dir: &Path, bytes: u64) -> Result<(), RuntimeError> {
    if bytes < (16 << 20) {
        return Err(SpecError::BadLimit {
            name: "disk_bytes",
            value: bytes,
            hint: "at least 16 MiB",
        }
        .into());
    }
    let image = dir.join("disk.img");
    let file = std::fs::File::create(&image).map_err(io_err("creating the disk image"))?;
    file.set_len(bytes)
        .map_err(io_err("sizing the disk image"))?;
    drop(file);
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-m", "0", "-E", "nodiscard"])
        .arg(&image))?;
    let mount_point = dir.join("disk");
    std::fs::create_dir_all(&mount_point).map_err(io_err("creating the disk mount point"))?;
    run(Command::new("mount")
        .args(["-o", "loop,nosuid,nodev"])
        .arg(&image)
        .arg(&mount_point))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), RuntimeError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io_err(format!("setting the mode of {}", path.display())))
}

fn run(command: &mut Command) -> Result<(), RuntimeError> {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .map_err(io_err(format!("running {shown}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(RuntimeError::Io {
            context: format!("running {shown}"),
            source: std::io::Error::other(
                String::from_utf8_lossy(&output.stderr).trim().to_string(),
            ),
        })
    }
}

fn unmount_if_mounted(path: &Path) -> Result<(), RuntimeError> {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) => Ok(()),
        // Not mounted (EINVAL) or not there (ENOENT): nothing to undo.
        Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(RuntimeError::Io {
            context: format!("unmounting {}", path.display()),
            source: e.into(),
        }),
    }
}

/// Creates every mount's destination in the root, as the host's root: in a
/// user namespace the container's root may not write to the image's files.
/// Paths resolve inside the root (an image's symlinks cannot point them out).
fn prepare_mount_points(
    rootfs: &Path,
    mounts: &[libcontainer::oci_spec::runtime::Mount],
) -> Result<(), RuntimeError> {
    for mount in mounts {
        let destination = mount.destination();
        let Some(parent) = destination.parent() else {
            continue;
        };
        let Some(name) = destination.file_name() else {
            continue;
        };
        let dir = crate::layer::resolve_in_root(rootfs, parent)?;
        let path = dir.join(name);
        if path.symlink_metadata().is_ok() {
            continue;
        }
        let is_file = mount.source().as_ref().is_some_and(|s| s.is_file());
        let made = if is_file {
            std::fs::File::create(&path).map(drop)
        } else {
            std::fs::create_dir(&path)
        };
        made.map_err(io_err(format!(
            "creating mount point {}",
            destination.display()
        )))?;
    }
    Ok(())
}

/// Generated `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`, bound read-only.
fn etc_files(
    dir: &Path,
    hostname: &str,
) -> Result<Vec<libcontainer::oci_spec::runtime::Mount>, RuntimeError> {
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).map_err(io_err("creating etc files"))?;
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
    );
    let resolv = std::fs::read_to_string("/etc/resolv.conf")
        .ok()
        .filter(|r| {
            !r.lines()
                .any(|l| l.trim_start().starts_with("nameserver 127."))
        })
        .unwrap_or_else(|| "nameserver 1.1.1.1\nnameserver 8.8.8.8\n".into());
    let mut mounts = Vec::new();
    for (name, content) in [
        ("hosts", hosts),
        ("hostname", format!("{hostname}\n")),
        ("resolv.conf", resolv),
    ] {
        let path = etc.join(name);
        std::fs::write(&path, content).map_err(io_err(format!("writing {}", path.display())))?;
        mounts.push(
            libcontainer::oci_spec::runtime::MountBuilder::default()
                .destination(format!("/etc/{name}"))
                .typ("bind")
                .source(path)
                .options(vec![
                    "rbind".to_string(),
                    "ro".to_string(),
                    "nosuid".to_string(),
                    "nodev".to_string(),
                ])
                .build()
                .map_err(SpecError::from)?,
        );
    }
    Ok(mounts)
}
