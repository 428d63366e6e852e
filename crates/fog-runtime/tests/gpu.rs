//! GPUs from recorded device descriptions: each fixture (a real machine's
//! scan) becomes exactly the devices, cgroup rules, mounts and environment a
//! container needs, and descriptions reaching outside /dev are refused.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use fog_runtime::gpu::{GpuDevice, GpuError, GpuSpec, load_descriptions, spec_additions};
use libcontainer::oci_spec::runtime::LinuxDeviceType;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/gpu")
        .join(name)
}

fn load(name: &str) -> Vec<GpuDevice> {
    load_descriptions(fixture(name)).unwrap()
}

/// The devices as `(path, type, major, minor, mode)`.
fn devices(spec: &GpuSpec) -> Vec<(String, LinuxDeviceType, i64, i64, u32)> {
    spec.devices
        .iter()
        .map(|d| {
            (
                d.path().display().to_string(),
                d.typ(),
                d.major(),
                d.minor(),
                d.file_mode().unwrap(),
            )
        })
        .collect()
}

/// The cgroup rules as cgroup v1 `devices.allow` lines, all of them allows.
fn rules(spec: &GpuSpec) -> Vec<String> {
    assert!(spec.device_rules.iter().all(|r| r.allow()));
    spec.device_rules.iter().map(|r| r.to_string()).collect()
}

/// The mounts' destinations, after checking each is a read-only bind of the
/// same host path.
fn mounts(spec: &GpuSpec) -> Vec<String> {
    spec.mounts
        .iter()
        .map(|m| {
            assert_eq!(m.source().as_deref(), Some(m.destination().as_path()));
            assert_eq!(m.typ().as_deref(), Some("bind"));
            assert_eq!(
                m.options().clone().unwrap(),
                ["bind", "ro", "nosuid", "nodev"]
            );
            m.destination().display().to_string()
        })
        .collect()
}

#[test]
fn two_nvidia_a100s_share_their_control_nodes_and_libraries() {
    let spec = spec_additions(&load("nvidia-a100-2x.json")).unwrap();

    let c = LinuxDeviceType::C;
    assert_eq!(
        devices(&spec),
        [
            ("/dev/nvidia0".into(), c, 195, 0, 0o666),
            ("/dev/nvidiactl".into(), c, 195, 255, 0o666),
            ("/dev/nvidia-uvm".into(), c, 508, 0, 0o666),
            ("/dev/nvidia-uvm-tools".into(), c, 508, 1, 0o666),
            ("/dev/nvidia1".into(), c, 195, 1, 0o666),
        ]
    );
    assert_eq!(
        rules(&spec),
        [
            "c 195:0 rwm",
            "c 195:255 rwm",
            "c 508:0 rwm",
            "c 508:1 rwm",
            "c 195:1 rwm"
        ]
    );
    assert_eq!(
        mounts(&spec),
        [
            "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
            "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
            "/usr/lib/x86_64-linux-gnu/libnvidia-ptxjitcompiler.so.1",
            "/usr/bin/nvidia-smi",
        ]
    );
    let both = "GPU-5a3c7f1e-2b8d-4c61-9e0a-7d4f3b2a1c90,GPU-e19b4d02-6f7a-4b35-8c2e-0a9d8f7e6b51";
    assert_eq!(
        spec.env,
        [
            format!("CUDA_VISIBLE_DEVICES={both}"),
            "NVIDIA_DRIVER_CAPABILITIES=compute,utility".into(),
            format!("NVIDIA_VISIBLE_DEVICES={both}"),
        ]
    );
}

#[test]
fn one_of_the_two_a100s_gets_only_its_own_gpu_node() {
    let gpus = load("nvidia-a100-2x.json");
    let spec = spec_additions(&gpus[1..]).unwrap();

    let paths: Vec<String> = devices(&spec).into_iter().map(|d| d.0).collect();
    assert_eq!(
        paths,
        [
            "/dev/nvidia1",
            "/dev/nvidiactl",
            "/dev/nvidia-uvm",
            "/dev/nvidia-uvm-tools"
        ]
    );
    assert!(!rules(&spec).contains(&"c 195:0 rwm".to_owned()));
    assert!(
        spec.env.contains(
            &"NVIDIA_VISIBLE_DEVICES=GPU-e19b4d02-6f7a-4b35-8c2e-0a9d8f7e6b51".to_owned()
        )
    );
}

#[test]
fn an_amd_mi210_gets_kfd_and_its_dri_nodes_without_host_libraries() {
    let spec = spec_additions(&load("amd-mi210.json")).unwrap();

    let c = LinuxDeviceType::C;
    assert_eq!(
        devices(&spec),
        [
            ("/dev/kfd".into(), c, 511, 0, 0o666),
            ("/dev/dri/card1".into(), c, 226, 1, 0o660),
            ("/dev/dri/renderD128".into(), c, 226, 128, 0o666),
        ]
    );
    assert_eq!(
        rules(&spec),
        ["c 511:0 rwm", "c 226:1 rwm", "c 226:128 rwm"]
    );
    assert!(mounts(&spec).is_empty());
    assert_eq!(spec.env, ["ROCR_VISIBLE_DEVICES=GPU-3f8d2c61a9b04e75"]);
}

#[test]
fn an_intel_arc_gets_its_dri_nodes_with_the_default_mode() {
    let spec = spec_additions(&load("intel-arc.json")).unwrap();

    let c = LinuxDeviceType::C;
    assert_eq!(
        devices(&spec),
        [
            ("/dev/dri/card0".into(), c, 226, 0, 0o660),
            ("/dev/dri/renderD129".into(), c, 226, 129, 0o666),
        ]
    );
    assert_eq!(rules(&spec), ["c 226:0 rwm", "c 226:129 rwm"]);
    assert!(mounts(&spec).is_empty());
    assert_eq!(spec.env, ["ONEAPI_DEVICE_SELECTOR=level_zero:0"]);
}

#[test]
fn no_gpus_add_nothing() {
    assert_eq!(spec_additions(&[]).unwrap(), GpuSpec::default());
}

fn refusal(gpus: &[GpuDevice]) -> String {
    let err = spec_additions(gpus).unwrap_err();
    assert!(matches!(err, GpuError::Invalid { .. }), "{err}");
    err.to_string()
}

#[test]
fn a_device_node_outside_dev_is_refused() {
    let mut gpus = load("intel-arc.json");
    gpus[0].device_nodes[1].path = "/tmp/renderD129".into();

    let err = refusal(&gpus);
    assert!(err.contains("GPU 0000:03:00.0 (Intel Arc A770)"), "{err}");
    assert!(
        err.contains("\"/tmp/renderD129\" is not under /dev"),
        "{err}"
    );
}

#[test]
fn a_device_node_climbing_out_of_dev_is_refused() {
    let mut gpus = load("intel-arc.json");
    gpus[0].device_nodes[0].path = "/dev/../etc/shadow".into();

    let err = refusal(&gpus);
    assert!(
        err.contains("\"/dev/../etc/shadow\" contains `..`"),
        "{err}"
    );
}

#[test]
fn dev_itself_and_relative_device_paths_are_refused() {
    for (path, why) in [
        ("/dev", "is not under /dev"),
        ("dev/kfd", "is not absolute"),
    ] {
        let mut gpus = load("amd-mi210.json");
        gpus[0].device_nodes[0].path = path.into();
        let err = refusal(&gpus);
        assert!(err.contains(why), "{path}: {err}");
    }
}

#[test]
fn a_library_path_with_dot_dot_or_relative_is_refused() {
    for (path, why) in [
        ("/usr/lib/../../etc/shadow", "contains `..`"),
        ("libcuda.so.1", "is not absolute"),
    ] {
        let mut gpus = load("nvidia-a100-2x.json");
        gpus[0].driver_libraries[0] = path.into();
        let err = refusal(&gpus);
        assert!(
            err.contains(&format!("driver library {path:?} {why}")),
            "{err}"
        );
    }
}

#[test]
fn a_binary_path_with_dot_dot_is_refused() {
    let mut gpus = load("nvidia-a100-2x.json");
    gpus[1].binaries[0] = "/usr/bin/../../root/.ssh/id_rsa".into();

    let err = refusal(&gpus);
    assert!(err.contains("GPU 0000:0f:00.0"), "{err}");
    assert!(err.contains("binary"), "{err}");
}

#[test]
fn two_gpus_disagreeing_about_a_shared_node_are_refused() {
    let mut gpus = load("nvidia-a100-2x.json");
    gpus[1].device_nodes[2].major = 509;

    let err = spec_additions(&gpus).unwrap_err();
    assert!(matches!(err, GpuError::ConflictingNode { .. }), "{err}");
    let err = err.to_string();
    assert!(err.contains("/dev/nvidia-uvm"), "{err}");
    assert!(err.contains("c 509:0") && err.contains("c 508:0"), "{err}");
}

#[test]
fn the_same_gpu_given_twice_is_refused() {
    let gpus = load("amd-mi210.json");
    let err = refusal(&[gpus[0].clone(), gpus[0].clone()]);
    assert!(
        err.contains("GPU 0000:83:00.0") && err.contains("twice"),
        "{err}"
    );
}

#[test]
fn device_numbers_beyond_linux_limits_are_refused() {
    let mut gpus = load("amd-mi210.json");
    gpus[0].device_nodes[0].major = 4096;

    let err = refusal(&gpus);
    assert!(err.contains("beyond Linux's limits"), "{err}");
}

#[test]
fn loading_refuses_an_invalid_description() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpus.json");
    let json = std::fs::read_to_string(fixture("intel-arc.json"))
        .unwrap()
        .replace("/dev/dri/card0", "/etc/passwd");
    std::fs::write(&path, json).unwrap();

    let err = load_descriptions(&path).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"/etc/passwd\" is not under /dev"),
        "{err}"
    );
}

#[test]
fn malformed_json_gives_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpus.json");
    std::fs::write(&path, r#"[{"vendor": "nvidia", "model": "#).unwrap();

    let err = load_descriptions(&path).unwrap_err();
    assert!(matches!(err, GpuError::Parse { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn an_unknown_vendor_gives_an_error_naming_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpus.json");
    let json = std::fs::read_to_string(fixture("intel-arc.json"))
        .unwrap()
        .replace("\"intel\"", "\"matrox\"");
    std::fs::write(&path, json).unwrap();

    let err = load_descriptions(&path).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("matrox"), "{err}");
}

#[test]
fn a_missing_file_gives_an_error_naming_it() {
    let err = load_descriptions("/nonexistent/gpus.json").unwrap_err();
    assert!(matches!(err, GpuError::Read { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/gpus.json"), "{err}");
}

#[test]
fn descriptions_round_trip_through_json() {
    let gpus = load("nvidia-a100-2x.json");
    let json = serde_json::to_string(&gpus).unwrap();
    let back: Vec<GpuDevice> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, gpus);
}
