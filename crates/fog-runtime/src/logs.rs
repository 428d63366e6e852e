//! Size-capped container logs with follow, tail and since (being written).
//! TEMPORARY stub until the real module lands.
#![allow(missing_docs)]

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

pub struct LogWriter(Mutex<std::fs::File>);

impl LogWriter {
    pub fn open(path: &Path, _max: u64) -> std::io::Result<Self> {
        Ok(Self(Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?)))
    }
    pub fn write(&self, _s: Stream, b: &[u8]) -> std::io::Result<()> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.write_all(b)
    }
    pub fn finish(&self, _s: Stream) -> std::io::Result<()> {
        Ok(())
    }
}
