//! TEMPORARY stub until the real module lands.
#![allow(missing_docs)]
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NetworkMode {
    #[default]
    None,
    Nat(NatConfig),
}
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NatConfig {
    pub allow_host: bool,
}
#[derive(Debug, thiserror::Error)]
#[error("network: {0}")]
pub struct NetworkError(String);
pub struct Attachment {
    pub netns: Option<PathBuf>,
}
#[derive(Debug)]
pub struct Network;
impl Network {
    pub fn open(_dir: &Path) -> Result<Self, NetworkError> {
        Ok(Network)
    }
    pub fn attach(&self, _id: &str, _m: &NetworkMode) -> Result<Attachment, NetworkError> {
        Ok(Attachment { netns: None })
    }
    pub fn detach(&self, _id: &str) -> Result<(), NetworkError> {
        Ok(())
    }
    pub fn clean_orphans(&self, _live: &[String]) -> Result<(), NetworkError> {
        Ok(())
    }
}
