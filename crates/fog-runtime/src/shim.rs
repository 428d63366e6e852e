//! The shim: one small single-threaded process per container that creates it
//! through libcontainer, copies its output into the log and records how it
//! ended.
//!
//! libcontainer forks with raw `clone3`, which is unsound in a process with
//! other threads holding locks (a tokio daemon); so the daemon never calls
//! it. It starts the `fog` binary again as a shim instead (see
//! [`crate::runtime::ShimCommand`]), in its own process group so that the
//! daemon can die and restart while containers keep running.
//!
//! Protocol with the runtime, all through files in the container's directory
//! plus one line on the shim's stdout:
//! - reads `shim.json` ([`ShimConfig`]);
//! - creates the container (its init process waits for `start`) and prints
//!   `created <pid>` or `error <message>` on stdout, then never writes there
//!   again;
//! - reaps the init process, reads the cgroup's OOM-kill counter, waits for
//!   the log pumps to drain, and writes `exit.json` ([`ExitRecord`]) through
//!   a temporary file and a rename, so the record is whole or absent.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use nix::sys::signal::{SigHandler, Signal};
use nix::sys::wait::{WaitStatus, waitpid};
use serde::{Deserialize, Serialize};

use crate::logs::{LogLimits, LogWriter, Stream};

/// What the runtime tells a shim, in `shim.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShimConfig {
    /// The container id (also libcontainer's).
    pub id: String,
    /// The OCI bundle (holds `config.json`).
    pub bundle: PathBuf,
    /// libcontainer's state root; the container's state is `<root>/<id>`.
    pub state_root: PathBuf,
    /// The container's log file.
    pub log_path: PathBuf,
    /// Rotate the log when it would grow past this many bytes.
    pub log_max_bytes: u64,
    /// The container's cgroup, relative to the cgroup roots (for the OOM counter).
    pub cgroup_path: PathBuf,
}

/// How a container ended, written by its shim to `exit.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// The exit code, when the process exited by itself.
    pub code: Option<i32>,
    /// The signal that killed it, when one did.
    pub signal: Option<i32>,
    /// The kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
    /// When the shim saw the end (RFC 3339).
    pub finished_at: String,
    /// Set when the container never ran, or was lost (the shim died).
    pub error: Option<String>,
}

/// The file names inside a container's directory.
pub(crate) const SHIM_CONFIG: &str = "shim.json";
pub(crate) const EXIT_RECORD: &str = "exit.json";

/// Runs the shim for the container directory `dir`; returns the process exit code.
pub fn run(dir: &Path) -> i32 {
    let config: ShimConfig = match std::fs::read(dir.join(SHIM_CONFIG))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => return report_failure(dir, &format!("reading {SHIM_CONFIG}: {e}")),
    };
    // Orphans in the container's process tree are reparented to the shim,
    // so nothing of the container outlives it unreaped.
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        return report_failure(dir, &format!("becoming a subreaper: {e}"));
    }
    let log = match LogWriter::open(&config.log_path, LogLimits::new(config.log_max_bytes)) {
        Ok(l) => Arc::new(l),
        Err(e) => return report_failure(dir, &format!("opening the log: {e}")),
    };
    let (out_r, out_w) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => return report_failure(dir, &format!("pipe: {e}")),
    };
    let (err_r, err_w) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => return report_failure(dir, &format!("pipe: {e}")),
    };
    // Rust starts every program with SIGPIPE ignored, and a clone inherits
    // that: the container's processes must start with the default instead.
    if let Err(e) = sigpipe(SigHandler::SigDfl) {
        return report_failure(dir, &format!("restoring SIGPIPE for the container: {e}"));
    }
    let container = ContainerBuilder::new(config.id.clone(), SyscallType::default())
        .with_executor(DefaultExecutor {})
        .with_root_path(&config.state_root)
        .map(|b| b.with_stdout(out_w).with_stderr(err_w))
        .and_then(|b| b.validate_id())
        .and_then(|b| {
            b.as_init(&config.bundle)
                .with_systemd(false)
                .with_detach(true)
                .build()
        });
    // Ignored again for the shim: a runtime gone away must not kill it.
    let _ = sigpipe(SigHandler::SigIgn);
    let container = match container {
        Ok(c) => c,
        Err(e) => {
            // libcontainer's init explains itself on the container's stderr;
            // the failed build dropped every write end, so this ends.
            for (reader, stream) in [(out_r, Stream::Stdout), (err_r, Stream::Stderr)] {
                let _ = log.copy_from(stream, std::fs::File::from(reader));
            }
            return report_failure(dir, &format!("creating the container: {e}"));
        }
    };
    let Some(pid) = container.pid() else {
        return report_failure(dir, "libcontainer created the container without a pid");
    };
    // The builder consumed the write ends; the pumps see EOF once every
    // process of the container is gone.
    let pumps = [
        spawn_pump(out_r, Stream::Stdout, log.clone()),
        spawn_pump(err_r, Stream::Stderr, log),
    ];
    // The runtime may be gone: a failed write must not end the shim.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "created {pid}").and_then(|()| stdout.flush());

    let status = loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => break (Some(code), None),
            Ok(WaitStatus::Signaled(_, signal, _)) => break (None, Some(signal as i32)),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                let record = ended(
                    None,
                    None,
                    false,
                    Some(format!("waiting for the container: {e}")),
                );
                return write_record(dir, &record);
            }
        }
    };
    // Reap whatever else the subreaper inherited, then drain the logs.
    while let Ok(s) = waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
        if matches!(s, WaitStatus::StillAlive) {
            break;
        }
    }
    for pump in pumps {
        let _ = pump.join();
    }
    let oom_killed = oom_kills(&config.cgroup_path) > 0;
    write_record(dir, &ended(status.0, status.1, oom_killed, None))
}

fn ended(code: Option<i32>, signal: Option<i32>, oom: bool, error: Option<String>) -> ExitRecord {
    ExitRecord {
        code,
        signal,
        oom_killed: oom,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        error,
    }
}

/// Sets SIGPIPE's disposition (default or ignored; never a handler).
#[allow(unsafe_code)]
fn sigpipe(handler: SigHandler) -> nix::Result<()> {
    debug_assert!(matches!(handler, SigHandler::SigDfl | SigHandler::SigIgn));
    // SAFETY: only SIG_DFL or SIG_IGN is installed, so no handler code can
    // ever run in signal context; the shim has a single thread here.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, handler) }.map(drop)
}

/// Reports a failure before the container ran: on stdout for the waiting
/// runtime, and as the exit record for anyone reading later.
fn report_failure(dir: &Path, message: &str) -> i32 {
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "error {}", message.replace('\n', " ")).and_then(|()| stdout.flush());
    write_record(dir, &ended(None, None, false, Some(message.to_string())));
    1
}

fn write_record(dir: &Path, record: &ExitRecord) -> i32 {
    match write_atomically(&dir.join(EXIT_RECORD), record) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("shim: writing {EXIT_RECORD}: {e}");
            2
        }
    }
}

/// Writes `value` as JSON to `path` through a temporary file and a rename.
pub(crate) fn write_atomically<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn spawn_pump(fd: OwnedFd, stream: Stream, log: Arc<LogWriter>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        if let Err(e) = log.copy_from(stream, std::fs::File::from(fd)) {
            eprintln!("shim: copying {} into the log: {e}", stream.as_str());
        }
    })
}

/// How many times the kernel's OOM killer struck the cgroup (v1 or v2).
pub(crate) fn oom_kills(cgroup_path: &Path) -> u64 {
    let relative = cgroup_path.strip_prefix("/").unwrap_or(cgroup_path);
    let candidates = [
        (
            Path::new("/sys/fs/cgroup/memory")
                .join(relative)
                .join("memory.oom_control"),
            "oom_kill",
        ),
        (
            Path::new("/sys/fs/cgroup")
                .join(relative)
                .join("memory.events"),
            "oom_kill",
        ),
    ];
    for (file, key) in candidates {
        if let Ok(text) = std::fs::read_to_string(&file) {
            for line in text.lines() {
                if let Some(v) = line.strip_prefix(key).map(str::trim)
                    && let Ok(n) = v.parse()
                {
                    return n;
                }
            }
        }
    }
    0
}
