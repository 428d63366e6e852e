//! `fog bench runtime`: start-to-running latency of a tiny container,
//! fog-runtime against Debian's runc on the same bundle, in one run.
//!
//! fog is timed through its public API from `create` until `start` returns
//! (the process runs): the overlay mount, the generated bundle, the shim's
//! start and libcontainer's create and start. runc is timed for `runc run
//! --detach` on the very `config.json` fog generated, with its own copy of
//! the image's root, until it returns (the process runs). Tear-down is not
//! timed for either. Both run `sleep` from the busybox image.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fog_runtime::runtime::{ContainerRequest, Runtime, RuntimeConfig, ShimCommand};
use fog_runtime::spec::TaskSpec;

/// What to measure.
pub(crate) struct RuntimeBench {
    /// Containers started per runtime.
    pub(crate) runs: usize,
    /// The runc binary.
    pub(crate) runc: PathBuf,
}

/// The figures, in milliseconds.
#[derive(serde::Serialize)]
pub(crate) struct RuntimeFigures {
    pub(crate) fog_start_p50_ms: f64,
    pub(crate) runc_start_p50_ms: f64,
    pub(crate) ratio: f64,
    pub(crate) runs: usize,
}

pub(crate) fn run(bench: &RuntimeBench) -> anyhow::Result<RuntimeFigures> {
    if !nix::unistd::geteuid().is_root() {
        bail!("fog bench runtime needs root (cgroups, mounts, namespaces); run it with sudo");
    }
    if !bench.runc.exists() {
        bail!(
            "{} not found: install runc (scripts/setup does) or pass --runc",
            bench.runc.display()
        );
    }
    let dir = tempfile::tempdir().context("creating a scratch directory")?;
    let shim = ShimCommand::fog(std::env::current_exe().context("locating the fog binary")?);
    let mut config = RuntimeConfig::new(dir.path().join("runtime"), shim);
    config.cgroup_parent = "fog-bench".into();
    config.owns_host_networks = false;
    let (runtime, _) = Runtime::open(config)?;
    let image = fog_runtime::busybox::image(runtime.store())?;
    let task = TaskSpec {
        command: Some(vec!["sleep".into(), "1000".into()]),
        ..TaskSpec::default()
    };

    // fog-runtime. The first container unpacks the image; it is not timed.
    let warmup = ContainerRequest {
        id: "warmup".into(),
        task: task.clone(),
        ..Default::default()
    };
    runtime.create(&warmup, &image)?;
    runtime.start("warmup")?;
    let bundle = dir.path().join("runc-bundle");
    prepare_runc_bundle(&dir.path().join("runtime/containers/warmup"), &bundle)?;
    runtime.delete("warmup")?;
    let mut fog = Vec::with_capacity(bench.runs);
    for i in 0..bench.runs {
        let id = format!("bench-{i}");
        let request = ContainerRequest {
            id: id.clone(),
            task: task.clone(),
            ..Default::default()
        };
        let started = Instant::now();
        runtime.create(&request, &image)?;
        runtime.start(&id)?;
        fog.push(started.elapsed());
        runtime.delete(&id)?;
    }

    // runc, on the same config.json.
    let state = dir.path().join("runc-state");
    let mut runc = Vec::with_capacity(bench.runs);
    for i in 0..bench.runs {
        let id = format!("runc-bench-{i}");
        set_cgroup_path(&bundle, &format!("/fog-bench/{id}"))?;
        let started = Instant::now();
        let status = Command::new(&bench.runc)
            .arg("--root")
            .arg(&state)
            .args(["run", "--detach", "--bundle"])
            .arg(&bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .context("running runc")?;
        runc.push(started.elapsed());
        if !status.success() {
            bail!("runc run failed ({status}) on {}", bundle.display());
        }
        let _ = Command::new(&bench.runc)
            .arg("--root")
            .arg(&state)
            .args(["delete", "--force", &id])
            .status();
    }
    let fog_ms = median_ms(&mut fog);
    let runc_ms = median_ms(&mut runc);
    Ok(RuntimeFigures {
        fog_start_p50_ms: round3(fog_ms),
        runc_start_p50_ms: round3(runc_ms),
        ratio: round3(fog_ms / runc_ms),
        runs: bench.runs,
    })
}

/// Copies fog's generated config.json and the container's root (as files)
/// into a bundle runc can run on its own.
fn prepare_runc_bundle(container: &Path, bundle: &Path) -> anyhow::Result<()> {
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(&rootfs)?;
    let status = Command::new("cp")
        .args(["-a", "--"])
        .arg(container.join("rootfs/."))
        .arg(&rootfs)
        .status()
        .context("copying the root for runc")?;
    if !status.success() {
        bail!("copying the root for runc failed");
    }
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(container.join("bundle/config.json"))?)?;
    config["root"]["path"] = serde_json::Value::String("rootfs".into());
    // The generated /etc files live in fog's container directory; runc gets copies.
    if let Some(mounts) = config["mounts"].as_array_mut() {
        for mount in mounts {
            if let Some(source) = mount["source"].as_str().map(PathBuf::from)
                && source.starts_with(container)
            {
                let copy = bundle.join(source.file_name().unwrap_or_default());
                std::fs::copy(&source, &copy)?;
                mount["source"] = serde_json::Value::String(copy.display().to_string());
            }
        }
    }
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&config)?,
    )?;
    Ok(())
}

fn set_cgroup_path(bundle: &Path, path: &str) -> anyhow::Result<()> {
    let file = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&file)?)?;
    config["linux"]["cgroupsPath"] = serde_json::Value::String(path.into());
    std::fs::write(&file, serde_json::to_vec_pretty(&config)?)?;
    Ok(())
}

fn median_ms(samples: &mut [Duration]) -> f64 {
    samples.sort();
    let n = samples.len();
    let mid = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2
    };
    mid.as_secs_f64() * 1000.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
