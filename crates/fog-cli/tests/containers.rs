//! Real containers through fog-runtime, with the `fog` binary as the shim:
//! the deal's limits hold, the hardening is in place, stop and delete leave
//! nothing behind, and a restart finds containers again.
//!
//! Needs root (cgroups, mounts, namespaces), as CI has, and Debian's
//! `busybox-static` (scripts/setup installs it).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use fog_runtime::image::Image;
use fog_runtime::runtime::{
    ContainerRequest, ContainerStatus, Recovery, Runtime, RuntimeConfig, ShimCommand,
};
use fog_runtime::spec::{Limits, TaskSpec};

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    runtime: Runtime,
    image: Image,
}

fn config(root: &Path) -> RuntimeConfig {
    let shim = ShimCommand::fog(env!("CARGO_BIN_EXE_fog"));
    let mut config = RuntimeConfig::new(root, shim);
    config.cgroup_parent = "fog-test".into();
    config.owns_host_networks = false;
    config
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    // Traversable, as /var/lib is: a user-namespaced container's root must
    // reach its own root filesystem.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .unwrap();
    let root = dir.path().join("runtime");
    let (runtime, _) = Runtime::open(config(&root)).unwrap();
    let image = fog_runtime::busybox::image(runtime.store()).unwrap();
    Fixture {
        _dir: dir,
        root,
        runtime,
        image,
    }
}

fn shell(script: &str) -> TaskSpec {
    TaskSpec {
        command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        ..TaskSpec::default()
    }
}

fn unique(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

impl Fixture {
    fn create(&self, id: &str, task: TaskSpec) {
        let request = ContainerRequest {
            id: id.into(),
            task,
            ..Default::default()
        };
        self.runtime.create(&request, &self.image).unwrap();
    }

    fn run(&self, id: &str, task: TaskSpec) -> ContainerStatus {
        self.create(id, task);
        self.runtime.start(id).unwrap();
        self.runtime.wait(id, Duration::from_secs(60)).unwrap()
    }

    fn log(&self, id: &str) -> String {
        let path = self.runtime.log_path(id).unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Ok(old) = std::fs::read_to_string(path.with_extension("log.1")) {
            text = old + &text;
        }
        text
    }

    /// Polls `cond` until it holds (generous limit: the machine may be busy).
    fn eventually(&self, what: &str, mut cond: impl FnMut() -> bool) {
        for _ in 0..3000 {
            if cond() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("timed out waiting for {what}");
    }
}

/// Whether this host runs the unified cgroup hierarchy (v2) only.
fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// A container's cgroup file: under the controller's hierarchy on v1, in
/// the one hierarchy on v2.
fn cgroup_file(controller: &str, id: &str, file: &str) -> PathBuf {
    let root = Path::new("/sys/fs/cgroup");
    let root = if cgroup_v2() {
        root.to_path_buf()
    } else {
        root.join(controller)
    };
    root.join("fog-test").join(id).join(file)
}

fn exited(code: i32) -> ContainerStatus {
    ContainerStatus::Exited {
        code: Some(code),
        signal: None,
        oom_killed: false,
    }
}

#[test]
fn a_command_runs_and_its_exit_code_and_output_are_kept() {
    let f = fixture();
    let id = unique("exit-code");
    let status = f.run(&id, shell("echo hello from inside; echo oops >&2; exit 3"));
    assert_eq!(status, exited(3));
    let log = f.log(&id);
    assert!(log.contains("hello from inside"), "{log}");
    assert!(log.contains("oops"), "{log}");
    f.runtime.delete(&id).unwrap();
}

#[test]
fn a_memory_hog_is_oom_killed_and_reported() {
    let f = fixture();
    let id = unique("oom");
    let mut task =
        shell("echo start; x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo survived");
    task.limits = Limits {
        memory_bytes: Some(32 << 20),
        ..Limits::default()
    };
    let status = f.run(&id, task);
    match status {
        ContainerStatus::Exited { oom_killed, .. } => assert!(oom_killed, "{status:?}"),
        other => panic!("expected an exit, got {other:?}"),
    }
    assert!(!f.log(&id).contains("survived"));
    f.runtime.delete(&id).unwrap();
}

#[test]
fn a_cpu_spinner_is_throttled_to_its_quota() {
    let f = fixture();
    let id = unique("cpu");
    let mut task = shell("while :; do :; done");
    task.limits = Limits {
        cpu_millicores: Some(200),
        ..Limits::default()
    };
    f.create(&id, task);
    f.runtime.start(&id).unwrap();
    if cgroup_v2() {
        let max = std::fs::read_to_string(cgroup_file("cpu", &id, "cpu.max")).unwrap();
        assert_eq!(max.trim(), "20000 100000");
    } else {
        let quota = std::fs::read_to_string(cgroup_file("cpu", &id, "cpu.cfs_quota_us")).unwrap();
        assert_eq!(quota.trim(), "20000");
    }
    f.eventually("the spinner to be throttled", || {
        let stat = std::fs::read_to_string(cgroup_file("cpu", &id, "cpu.stat")).unwrap();
        stat.lines()
            .find_map(|l| l.strip_prefix("nr_throttled "))
            .is_some_and(|n| n.trim().parse::<u64>().unwrap() > 0)
    });
    f.runtime.delete(&id).unwrap();
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit() {
    let f = fixture();
    let id = unique("pids");
    let mut task = shell("for i in $(seq 1 60); do sleep 100 & done; echo forked; sleep 100");
    task.limits = Limits {
        pids: Some(16),
        ..Limits::default()
    };
    f.create(&id, task);
    f.runtime.start(&id).unwrap();
    f.eventually("the pids limit to be hit", || {
        let events =
            std::fs::read_to_string(cgroup_file("pids", &id, "pids.events")).unwrap_or_default();
        events
            .lines()
            .find_map(|l| l.strip_prefix("max "))
            .is_some_and(|n| n.trim() != "0")
    });
    let current: u64 = std::fs::read_to_string(cgroup_file("pids", &id, "pids.current"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(current <= 16, "{current} processes");
    f.runtime.delete(&id).unwrap();
}

#[test]
fn the_writable_layer_is_limited_to_the_deals_disk() {
    let f = fixture();
    let id = unique("disk");
    let mut task = shell("dd if=/dev/zero of=/big bs=1M count=64 2>&1; echo dd=$?");
    task.limits = Limits {
        disk_bytes: Some(32 << 20),
        ..Limits::default()
    };
    assert_eq!(f.run(&id, task), exited(0));
    let log = f.log(&id);
    assert!(log.contains("No space left on device"), "{log}");
    assert!(log.contains("dd=1"), "{log}");
    f.runtime.delete(&id).unwrap();
}

#[test]
fn the_container_runs_hardened() {
    let f = fixture();
    let id = unique("hardened");
    let script = "grep -E '^(NoNewPrivs|Seccomp|CapEff|CapBnd|SigIgn):' /proc/self/status; \
        unshare -n true 2>/dev/null && echo unshare=allowed || echo unshare=refused; \
        mount -t tmpfs none /mnt 2>/dev/null && echo mount=allowed || echo mount=refused; \
        (echo 1 > /proc/sys/kernel/panic) 2>/dev/null && echo procsys=writable || echo procsys=readonly; \
        echo interrupts=$(wc -c < /proc/interrupts); \
        mknod /tmp/sda b 8 0 2>/dev/null && echo mknod=allowed || echo mknod=refused; \
        echo pid=$$; hostname";
    assert_eq!(f.run(&id, shell(script)), exited(0));
    let log = f.log(&id);
    assert!(log.contains("NoNewPrivs:\t1"), "{log}");
    // SIGPIPE starts at its default (the Rust shim's ignored SIGPIPE is not inherited).
    let ignored = log
        .lines()
        .find_map(|l| l.split("SigIgn:\t").nth(1))
        .unwrap();
    let ignored = u64::from_str_radix(ignored.trim(), 16).unwrap();
    assert_eq!(ignored & (1 << (13 - 1)), 0, "SIGPIPE ignored: {log}");
    assert!(log.contains("Seccomp:\t2"), "{log}");
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE SYS_CHROOT AUDIT_WRITE
    assert!(log.contains("CapEff:\t00000000200405fb"), "{log}");
    assert!(log.contains("CapBnd:\t00000000200405fb"), "{log}");
    for line in [
        "unshare=refused",
        "mount=refused",
        "procsys=readonly",
        "interrupts=0",
        "mknod=refused",
        "pid=1",
    ] {
        assert!(log.contains(line), "missing {line} in {log}");
    }
    f.runtime.delete(&id).unwrap();
}

#[test]
fn a_privileged_container_is_refused() {
    let f = fixture();
    let mut task = shell("true");
    task.privileged = true;
    let request = ContainerRequest {
        id: unique("privileged"),
        task,
        ..Default::default()
    };
    let err = f.runtime.create(&request, &f.image).unwrap_err();
    assert!(
        err.to_string()
            .contains("privileged containers are refused"),
        "{err}"
    );
    assert!(f.runtime.list().unwrap().is_empty());
}

#[test]
fn the_user_is_resolved_from_the_images_passwd_and_runs_without_capabilities() {
    let f = fixture();
    let id = unique("user");
    let mut task = shell("id -u; id -g; id -G; grep CapEff /proc/self/status");
    task.user = Some("nobody".into());
    assert_eq!(f.run(&id, task), exited(0));
    let log = f.log(&id);
    assert!(log.contains("65534\n"), "{log}");
    assert!(
        !log.contains(" 0\n") && !log.contains(" 0 "),
        "no root group: {log}"
    );
    assert!(
        log.contains("CapEff:\t0000000000000000"),
        "a user has no capabilities: {log}"
    );
    f.runtime.delete(&id).unwrap();
}

#[test]
fn stop_escalates_to_sigkill_after_the_grace_period() {
    let f = fixture();
    let id = unique("stop-kill");
    // PID 1 ignores SIGTERM unless it handles it: only SIGKILL ends this one.
    f.create(
        &id,
        shell("trap '' TERM; echo ready; while :; do sleep 1; done"),
    );
    f.runtime.start(&id).unwrap();
    f.eventually("ready", || f.log(&id).contains("ready"));
    let status = f.runtime.stop(&id, Duration::from_millis(300)).unwrap();
    assert_eq!(
        status,
        ContainerStatus::Exited {
            code: None,
            signal: Some(9),
            oom_killed: false
        }
    );
    f.runtime.delete(&id).unwrap();
}

#[test]
fn stop_lets_a_process_that_handles_sigterm_exit_cleanly() {
    let f = fixture();
    let id = unique("stop-term");
    f.create(
        &id,
        shell("trap 'echo bye; exit 7' TERM; echo ready; while :; do sleep 0.1; done"),
    );
    f.runtime.start(&id).unwrap();
    f.eventually("ready", || f.log(&id).contains("ready"));
    assert_eq!(
        f.runtime.stop(&id, Duration::from_secs(30)).unwrap(),
        exited(7)
    );
    assert!(f.log(&id).contains("bye"));
    f.runtime.delete(&id).unwrap();
}

#[test]
fn delete_leaves_no_process_cgroup_or_mount_behind() {
    let f = fixture();
    let id = unique("delete");
    let mut task = shell("sleep 1000");
    task.limits = Limits {
        memory_bytes: Some(64 << 20),
        disk_bytes: Some(32 << 20),
        ..Limits::default()
    };
    f.create(&id, task);
    f.runtime.start(&id).unwrap();
    assert_eq!(f.runtime.status(&id).unwrap(), ContainerStatus::Running);
    let dir = f.root.join("containers").join(&id);
    f.runtime.delete(&id).unwrap();
    assert!(!dir.exists());
    assert!(!cgroup_file("memory", &id, "").exists());
    assert!(!cgroup_file("pids", &id, "").exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(dir.to_str().unwrap()), "{mounts}");
    assert!(f.runtime.list().unwrap().is_empty());
    assert!(matches!(
        f.runtime.status(&id),
        Err(fog_runtime::runtime::RuntimeError::NotFound(_))
    ));
}

#[test]
fn a_restarted_runtime_reattaches_to_running_containers() {
    let f = fixture();
    let id = unique("reattach");
    f.create(
        &id,
        shell("trap 'exit 5' TERM; echo ready; while :; do sleep 0.1; done"),
    );
    f.runtime.start(&id).unwrap();
    f.eventually("ready", || f.log(&id).contains("ready"));
    // The daemon goes away without a word; its containers keep running.
    let Fixture {
        _dir,
        root,
        runtime,
        ..
    } = f;
    drop(runtime);
    let (runtime, recovery) = Runtime::open(config(&root)).unwrap();
    assert_eq!(
        recovery,
        Recovery {
            reattached: vec![id.clone()],
            ..Recovery::default()
        }
    );
    assert_eq!(runtime.status(&id).unwrap(), ContainerStatus::Running);
    assert_eq!(
        runtime.stop(&id, Duration::from_secs(30)).unwrap(),
        exited(5)
    );
    runtime.delete(&id).unwrap();
}

#[test]
fn a_container_whose_shim_died_is_found_killed_and_cleaned_on_restart() {
    let f = fixture();
    let id = unique("lost");
    f.create(&id, shell("sleep 1000"));
    f.runtime.start(&id).unwrap();
    let shim_pid: i32 = {
        let record: serde_json::Value = serde_json::from_slice(
            &std::fs::read(f.root.join("containers").join(&id).join("container.json")).unwrap(),
        )
        .unwrap();
        record["shim_pid"].as_i64().unwrap() as i32
    };
    let Fixture {
        _dir,
        root,
        runtime,
        ..
    } = f;
    drop(runtime);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Wait until the shim is really gone (reaped by init or by us).
    for _ in 0..500 {
        let _ = nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(shim_pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
        if !Path::new(&format!("/proc/{shim_pid}")).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (runtime, recovery) = Runtime::open(config(&root)).unwrap();
    assert_eq!(recovery.lost, vec![id.clone()]);
    assert!(matches!(
        runtime.status(&id).unwrap(),
        ContainerStatus::Broken { .. }
    ));
    assert!(!cgroup_file("memory", &id, "").exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&format!("containers/{id}/rootfs")));
    runtime.delete(&id).unwrap();
    assert!(runtime.list().unwrap().is_empty());
}

#[test]
fn a_recorded_gpu_description_becomes_device_nodes_and_cgroup_rules() {
    let f = fixture();
    let id = unique("gpu");
    let gpus = fog_runtime::gpu::load_descriptions(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fog-runtime/tests/data/gpu/amd-mi210.json"),
    )
    .unwrap();
    let request = ContainerRequest {
        id: id.clone(),
        task: shell("ls -l /dev/kfd /dev/dri/renderD128; sleep 1000"),
        gpus,
        ..Default::default()
    };
    f.runtime.create(&request, &f.image).unwrap();
    f.runtime.start(&id).unwrap();
    f.eventually("the listing", || f.log(&id).contains("renderD128"));
    let log = f.log(&id);
    assert!(log.contains("511,   0") || log.contains("511, 0"), "{log}");
    assert!(log.contains("226, 128"), "{log}");
    // cgroup v1 lists the allowed devices; v2 enforces them in eBPF, unlisted.
    if !cgroup_v2() {
        let rules = std::fs::read_to_string(cgroup_file("devices", &id, "devices.list")).unwrap();
        assert!(rules.contains("c 511:0 rwm"), "{rules}");
        assert!(rules.contains("c 226:128 rwm"), "{rules}");
    }
    f.runtime.delete(&id).unwrap();
}

#[test]
fn unpacked_images_are_shared_and_collected_when_no_container_uses_them() {
    let f = fixture();
    let (a, b) = (unique("share-a"), unique("share-b"));
    f.create(&a, shell("true"));
    f.create(&b, shell("true"));
    let unpacked = || std::fs::read_dir(f.root.join("images")).unwrap().count();
    assert_eq!(unpacked(), 1, "both containers use one unpacked root");
    assert_eq!(f.runtime.collect_garbage(&[]).unwrap(), 0, "in use, kept");
    f.runtime.delete(&a).unwrap();
    f.runtime.delete(&b).unwrap();
    assert_eq!(f.runtime.collect_garbage(&[]).unwrap(), 1);
    assert_eq!(unpacked(), 0);
    assert!(f.image.blobs().all(|d| !f.runtime.store().contains(d)));
}

#[test]
fn following_the_logs_of_a_running_container_ends_when_it_exits() {
    let f = fixture();
    let id = unique("follow");
    f.create(
        &id,
        shell("for i in 1 2 3 4 5; do echo line $i; sleep 0.05; done; echo done >&2"),
    );
    f.runtime.start(&id).unwrap();
    let query = fog_runtime::logs::LogQuery {
        follow: true,
        ..Default::default()
    };
    let lines: Vec<String> = f
        .runtime
        .logs(&id, query)
        .unwrap()
        .map(|l| {
            let l = l.unwrap();
            format!(
                "{} {}",
                l.stream.as_str(),
                String::from_utf8_lossy(&l.content)
            )
        })
        .collect();
    assert_eq!(
        lines,
        ["line 1", "line 2", "line 3", "line 4", "line 5"]
            .map(|l| format!("stdout {l}"))
            .into_iter()
            .chain(["stderr done".to_string()])
            .collect::<Vec<_>>()
    );
    f.runtime.delete(&id).unwrap();
}

#[test]
fn a_user_namespace_maps_the_containers_root_to_an_unprivileged_host_user() {
    let f = fixture();
    let id = unique("userns");
    let mut task =
        shell("id -u; cat /proc/self/uid_map; echo written > /tmp/file && cat /tmp/file");
    task.user_namespace = Some(fog_runtime::spec::IdMapping {
        host_id: 200_000,
        size: 65_536,
    });
    assert_eq!(f.run(&id, task), exited(0));
    let log = f.log(&id);
    assert!(log.contains(" 0\n"), "{log}");
    let map: Vec<&str> = log
        .lines()
        .find(|l| l.contains("200000"))
        .map(|l| l.split_whitespace().rev().take(3).collect())
        .unwrap_or_default();
    assert_eq!(map, vec!["65536", "200000", "0"], "{log}");
    assert!(log.contains("written"), "{log}");
    f.runtime.delete(&id).unwrap();
}

#[test]
fn a_user_namespace_reaching_the_hosts_own_users_is_refused() {
    let f = fixture();
    let mut task = shell("true");
    task.user_namespace = Some(fog_runtime::spec::IdMapping {
        host_id: 0,
        size: 65_536,
    });
    let request = ContainerRequest {
        id: unique("userns-root"),
        task,
        ..Default::default()
    };
    let err = f.runtime.create(&request, &f.image).unwrap_err();
    assert!(
        err.to_string().contains("map to host ids from 100000 up"),
        "{err}"
    );
    assert!(f.runtime.list().unwrap().is_empty());
}

#[test]
fn an_image_user_file_linked_to_a_host_file_is_not_read() {
    let f = fixture();
    // The image's /etc/passwd points at the host's: the runtime must not
    // follow it out of the root, so the name does not resolve.
    let root = f
        .root
        .join("images")
        .join(fog_runtime::runtime::chain_id(&f.image));
    let id = unique("passwd-link");
    f.create(&id, shell("true"));
    f.runtime.delete(&id).unwrap();
    std::fs::remove_file(root.join("etc/passwd")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("etc/passwd")).unwrap();
    let mut task = shell("true");
    task.user = Some("root".into());
    let request = ContainerRequest {
        id: unique("passwd-link2"),
        task,
        ..Default::default()
    };
    let err = f.runtime.create(&request, &f.image).unwrap_err();
    assert!(err.to_string().contains("no such user"), "{err}");
}

#[test]
fn an_argument_with_a_nul_byte_is_refused_with_a_clear_error() {
    let f = fixture();
    let request = ContainerRequest {
        id: unique("nul"),
        task: shell("echo a\0b"),
        ..Default::default()
    };
    let err = f.runtime.create(&request, &f.image).unwrap_err();
    assert!(err.to_string().contains("NUL byte"), "{err}");
    assert!(f.runtime.list().unwrap().is_empty());
}
