//! TEMPORARY stub until the real module lands.
#![allow(missing_docs)]
use libcontainer::oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, Mount};
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GpuDevice;
#[derive(Debug, thiserror::Error)]
#[error("gpu")]
pub struct GpuError;
pub struct GpuSpec {
    pub devices: Vec<LinuxDevice>,
    pub device_rules: Vec<LinuxDeviceCgroup>,
    pub mounts: Vec<Mount>,
    pub env: Vec<String>,
}
pub fn spec_additions(_g: &[GpuDevice]) -> Result<GpuSpec, GpuError> {
    Ok(GpuSpec { devices: vec![], device_rules: vec![], mounts: vec![], env: vec![] })
}
