//! `fog worker check`: the self-test a supplier runs before selling. Every
//! piece the runtime relies on is probed on this machine, the way the
//! runtime will use it, ending with a real container start under limits;
//! each missing piece is reported with how to fix it.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::network::Check;
use crate::runtime::{ContainerRequest, ContainerStatus, Runtime, RuntimeConfig, ShimCommand};
use crate::spec::{Limits, TaskSpec};

/// Runs every check. `shim` is how this binary starts shims (for the real
/// container start); the scratch state lives in a temporary directory under
/// `scratch` and is removed afterwards.
pub fn run(shim: ShimCommand, scratch: &Path) -> Vec<Check> {
    let mut checks = vec![
        namespaces(),
        user_namespaces(),
        cgroups(),
        device_cgroup(),
        seccomp(),
        filesystem(
            "overlay",
            "overlayfs (container roots)",
            "load it with `modprobe overlay`",
        ),
        disk_limits(),
        busybox(),
    ];
    checks.extend(crate::network::check());
    let ready = checks.iter().all(|c| c.ok() || is_optional(c));
    checks.push(container_start(shim, scratch, ready));
    checks
}

/// Checks whose failure limits what can be sold but does not stop the worker.
const OPTIONAL: [&str; 2] = ["user namespaces", "device cgroup"];

/// Whether a failed `check` still leaves the worker able to sell.
pub fn is_optional(check: &Check) -> bool {
    OPTIONAL.contains(&check.name)
}

fn check(name: &'static str, result: Result<String, String>) -> Check {
    Check { name, result }
}

fn namespaces() -> Check {
    let missing: Vec<&str> = ["pid", "net", "ipc", "uts", "mnt", "cgroup"]
        .into_iter()
        .filter(|ns| !Path::new("/proc/self/ns").join(ns).exists())
        .collect();
    check(
        "namespaces",
        if missing.is_empty() {
            Ok("pid, net, ipc, uts, mnt, cgroup".into())
        } else {
            Err(format!(
                "the kernel lacks {} namespaces: use a kernel built with CONFIG_NAMESPACES and \
                 CONFIG_{{PID,NET,IPC,UTS,CGROUP}}_NS (any distribution kernel is)",
                missing.join(", ")
            ))
        },
    )
}

fn user_namespaces() -> Check {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    check(
        "user namespaces",
        match max {
            Some(n) if n > 0 => Ok(format!(
                "available (max {n}); used only when a task maps users"
            )),
            _ => Err(
                "unavailable (optional): tasks asking for a user namespace will fail; \
                      enable with `sysctl -w user.max_user_namespaces=15000`"
                    .into(),
            ),
        },
    )
}

fn cgroups() -> Check {
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers");
    let result = if unified.exists() {
        let controllers = std::fs::read_to_string(unified).unwrap_or_default();
        let missing: Vec<&str> = ["cpu", "memory", "pids"]
            .into_iter()
            .filter(|c| !controllers.split_whitespace().any(|have| have == *c))
            .collect();
        if missing.is_empty() {
            Ok("cgroup v2 with cpu, memory, pids".to_string())
        } else {
            Err(format!(
                "cgroup v2 lacks the {} controller(s): enable them in \
                 /sys/fs/cgroup/cgroup.subtree_control (or boot with them enabled)",
                missing.join(", ")
            ))
        }
    } else {
        let missing: Vec<&str> = ["cpu", "memory", "pids", "devices", "freezer"]
            .into_iter()
            .filter(|c| !Path::new("/sys/fs/cgroup").join(c).is_dir())
            .collect();
        if missing.is_empty() {
            Ok("cgroup v1 with cpu, memory, pids, devices, freezer".to_string())
        } else {
            Err(format!(
                "no cgroup v2 and cgroup v1 lacks {}: mount them (systemd does at boot), \
                 or boot with systemd.unified_cgroup_hierarchy=1",
                missing.join(", ")
            ))
        }
    };
    check("cgroups", result)
}

/// On cgroup v2 device rules are eBPF programs, which this build of
/// libcontainer does not load (its `cgroupsv2_devices` feature needs
/// libbpf): containers then rely on the missing CAP_MKNOD and their private
/// /dev alone.
fn device_cgroup() -> Check {
    check(
        "device cgroup",
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            Err(
                "not enforced on cgroup v2 by this build (defence in depth only: containers \
                 still cannot create or reach host devices); boot with \
                 systemd.unified_cgroup_hierarchy=0 to have it"
                    .into(),
            )
        } else {
            Ok("cgroup v1 devices controller enforces the allow-list".into())
        },
    )
}

fn seccomp() -> Check {
    let actions =
        std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail").unwrap_or_default();
    check(
        "seccomp",
        if actions.split_whitespace().any(|a| a == "errno") {
            Ok("filters with errno actions".into())
        } else {
            Err(
                "the kernel has no seccomp filters: use a kernel built with CONFIG_SECCOMP_FILTER"
                    .into(),
            )
        },
    )
}

fn filesystem(fs: &str, name: &'static str, fix: &str) -> Check {
    let known = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    check(
        name,
        if known
            .lines()
            .any(|l| l.split_whitespace().last() == Some(fs))
        {
            Ok(format!("{fs} available"))
        } else {
            Err(format!("{fs} is not available: {fix}"))
        },
    )
}

fn disk_limits() -> Check {
    let tools = ["mkfs.ext4", "mount", "losetup"];
    let missing: Vec<&str> = tools.into_iter().filter(|t| !on_path(t)).collect();
    let result = if !missing.is_empty() {
        Err(format!(
            "{} not found: install with `apt-get install e2fsprogs mount`",
            missing.join(", ")
        ))
    } else if !Path::new("/dev/loop-control").exists() {
        Err("no /dev/loop-control: load the loop module with `modprobe loop`".into())
    } else if !std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .contains("ext4")
    {
        Err("ext4 is not available: load it with `modprobe ext4`".into())
    } else {
        Ok("ext4 images on loop devices".into())
    };
    check("disk limits", result)
}

fn busybox() -> Check {
    check(
        "self-test image",
        match std::fs::metadata(crate::busybox::BUSYBOX) {
            Ok(_) => Ok(format!("{} (busybox-static)", crate::busybox::BUSYBOX)),
            Err(_) => Err(format!(
                "{} is missing: install with `apt-get install busybox-static` \
                 (only this self-test and the benchmark need it)",
                crate::busybox::BUSYBOX
            )),
        },
    )
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Creates a real container with memory, CPU and pids limits, runs it to
/// its end and deletes it.
fn container_start(shim: ShimCommand, scratch: &Path, ready: bool) -> Check {
    let name = "container start";
    if !ready {
        return check(name, Err("skipped: fix the problems above first".into()));
    }
    let result = (|| -> Result<String, String> {
        let dir = tempfile::Builder::new()
            .prefix("fog-worker-check")
            .tempdir_in(scratch)
            .map_err(|e| format!("creating a scratch directory in {}: {e}", scratch.display()))?;
        let mut config = RuntimeConfig::new(dir.path(), shim);
        config.cgroup_parent = "fog-check".into();
        config.owns_host_networks = false;
        let (runtime, _) = Runtime::open(config).map_err(|e| e.to_string())?;
        let image = crate::busybox::image(runtime.store()).map_err(|e| e.to_string())?;
        let request = ContainerRequest {
            id: format!("check-{}", std::process::id()),
            task: TaskSpec {
                command: Some(vec!["sh".into(), "-c".into(), "echo fog-check-ok".into()]),
                limits: Limits {
                    cpu_millicores: Some(500),
                    memory_bytes: Some(64 << 20),
                    pids: Some(32),
                    disk_bytes: None,
                },
                ..TaskSpec::default()
            },
            ..Default::default()
        };
        let started = Instant::now();
        runtime
            .create(&request, &image)
            .map_err(|e| e.to_string())?;
        let outcome = runtime
            .start(&request.id)
            .and_then(|()| runtime.wait(&request.id, Duration::from_secs(30)));
        let elapsed = started.elapsed();
        let log = runtime
            .log_path(&request.id)
            .ok()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let deleted = runtime.delete(&request.id);
        let status = outcome.map_err(|e| e.to_string())?;
        deleted.map_err(|e| format!("deleting the test container: {e}"))?;
        match status {
            ContainerStatus::Exited { code: Some(0), .. } if log.contains("fog-check-ok") => {
                Ok(format!(
                    "a limited busybox container ran and was removed in {} ms",
                    elapsed.as_millis()
                ))
            }
            other => Err(format!(
                "the test container ended as {other:?}; its output: {log}"
            )),
        }
    })();
    check(name, result)
}
