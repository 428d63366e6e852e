//! Benchmarks: the measured capabilities of a machine, and the v1 table.

use serde::{Deserialize, Serialize};

/// How a benchmark value changes when a part of a machine is sold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitRule {
    /// Scales with the share, rounded up (cores, memory, bandwidth).
    Proportional,
    /// Kept whole: a per-unit minimum (memory per GPU card).
    Min,
    /// Kept whole: not divisible (single-core speed).
    None,
}

/// A benchmark's place in the vector an order carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BenchmarkId(pub usize);

impl BenchmarkId {
    /// CPU operations per second, all cores.
    pub const CPU_MULTI: BenchmarkId = BenchmarkId(0);
    /// CPU operations per second, one core.
    pub const CPU_SINGLE: BenchmarkId = BenchmarkId(1);
    /// Logical cores.
    pub const CPU_CORES: BenchmarkId = BenchmarkId(2);
    /// RAM in bytes.
    pub const RAM_SIZE: BenchmarkId = BenchmarkId(3);
    /// Free storage in bytes.
    pub const STORAGE_SIZE: BenchmarkId = BenchmarkId(4);
    /// Download bandwidth in bit/s.
    pub const NET_DOWNLOAD: BenchmarkId = BenchmarkId(5);
    /// Upload bandwidth in bit/s.
    pub const NET_UPLOAD: BenchmarkId = BenchmarkId(6);
    /// GPU cards.
    pub const GPU_COUNT: BenchmarkId = BenchmarkId(7);
    /// GPU memory in bytes per card.
    pub const GPU_MEM: BenchmarkId = BenchmarkId(8);
    /// GPU FP32 GFLOPS per card.
    pub const GPU_FP32: BenchmarkId = BenchmarkId(9);
    /// GPU memory bandwidth in GB/s per card.
    pub const GPU_MEM_BANDWIDTH: BenchmarkId = BenchmarkId(10);
    /// 1 if the GPUs are NVIDIA.
    pub const GPU_NVIDIA: BenchmarkId = BenchmarkId(11);
    /// 1 if the GPUs are AMD.
    pub const GPU_AMD: BenchmarkId = BenchmarkId(12);
    /// Sequential storage write speed in MB/s.
    pub const STORAGE_WRITE: BenchmarkId = BenchmarkId(13);

    /// The id of the benchmark with this code.
    pub fn from_code(code: &str) -> Option<BenchmarkId> {
        benchmark_by_code(code).map(|info| BenchmarkId(info.id))
    }

    /// This benchmark's table entry; `None` for ids past the v1 table.
    pub fn info(self) -> Option<&'static BenchmarkInfo> {
        BENCHMARKS.get(self.0)
    }
}

/// One row of the benchmark table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BenchmarkInfo {
    /// Index in the benchmark vector.
    pub id: usize,
    /// Stable name, used on the command line and in APIs.
    pub code: &'static str,
    /// Unit of the value.
    pub unit: &'static str,
    /// How the value changes when part of a machine is sold.
    pub split: SplitRule,
    /// What is measured.
    pub description: &'static str,
}

const fn info(
    id: usize,
    code: &'static str,
    unit: &'static str,
    split: SplitRule,
    description: &'static str,
) -> BenchmarkInfo {
    BenchmarkInfo {
        id,
        code,
        unit,
        split,
        description,
    }
}

/// The v1 benchmarks (DESIGN.md section 4); entry `i` has id `i`.
#[rustfmt::skip]
pub static BENCHMARKS: [BenchmarkInfo; 14] = [
    info(0, "cpu-multi", "ops/s", SplitRule::Proportional, "CPU kernel throughput, all threads"),
    info(1, "cpu-single", "ops/s", SplitRule::None, "CPU kernel throughput, one thread"),
    info(2, "cpu-cores", "cores", SplitRule::Proportional, "logical CPU cores"),
    info(3, "ram-size", "bytes", SplitRule::Proportional, "RAM size"),
    info(4, "storage-size", "bytes", SplitRule::Proportional, "free storage in the worker's data dir"),
    info(5, "net-download", "bit/s", SplitRule::Proportional, "download bandwidth, measured against a peer"),
    info(6, "net-upload", "bit/s", SplitRule::Proportional, "upload bandwidth, measured against a peer"),
    info(7, "gpu-count", "cards", SplitRule::Proportional, "number of GPU cards"),
    info(8, "gpu-mem", "bytes", SplitRule::Min, "GPU memory per card"),
    info(9, "gpu-fp32", "GFLOPS", SplitRule::Min, "GPU FP32 throughput per card"),
    info(10, "gpu-mem-bandwidth", "GB/s", SplitRule::Min, "GPU memory bandwidth per card"),
    info(11, "gpu-nvidia", "0/1", SplitRule::Min, "1 if the GPUs are NVIDIA"),
    info(12, "gpu-amd", "0/1", SplitRule::Min, "1 if the GPUs are AMD"),
    info(13, "storage-write", "MB/s", SplitRule::None, "sequential write speed in the data dir"),
];

/// The most benchmarks an order may carry on chain.
pub const MAX_BENCHMARKS: usize = 64;

/// The table entry with this code.
pub fn benchmark_by_code(code: &str) -> Option<&'static BenchmarkInfo> {
    BENCHMARKS.iter().find(|info| info.code == code)
}

/// A benchmark vector that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BenchmarkError {
    /// More entries than the chain accepts.
    #[error("{len} benchmarks given: at most {MAX_BENCHMARKS} are accepted on chain")]
    TooMany {
        /// The number of entries given.
        len: usize,
    },
    /// A code that is not in the table.
    #[error(
        "unknown benchmark code {0:?}: see the benchmark table for valid codes such as cpu-cores"
    )]
    UnknownCode(String),
}

/// A benchmark vector: entry `i` is the value of benchmark `i`; missing entries count as 0.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Benchmarks(Vec<u64>);

impl Benchmarks {
    /// Wraps a vector of values.
    pub fn new(values: Vec<u64>) -> Benchmarks {
        Benchmarks(values)
    }

    /// The value of benchmark `i`, 0 when missing.
    pub fn get(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }

    /// Sets benchmark `i`, padding missing entries with 0.
    pub fn set(&mut self, i: usize, value: u64) {
        if self.0.len() <= i {
            self.0.resize(i + 1, 0);
        }
        self.0[i] = value;
    }

    /// The value of the benchmark with this code (0 when missing); `None` for an unknown code.
    pub fn by_code(&self, code: &str) -> Option<u64> {
        benchmark_by_code(code).map(|info| self.get(info.id))
    }

    /// Sets the benchmark with this code.
    pub fn set_by_code(&mut self, code: &str, value: u64) -> Result<(), BenchmarkError> {
        let info =
            benchmark_by_code(code).ok_or_else(|| BenchmarkError::UnknownCode(code.to_owned()))?;
        self.set(info.id, value);
        Ok(())
    }

    /// The stored values.
    pub fn as_slice(&self) -> &[u64] {
        &self.0
    }

    /// The number of stored entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks the on-chain cap of [`MAX_BENCHMARKS`] entries.
    pub fn check_len(&self) -> Result<(), BenchmarkError> {
        if self.0.len() > MAX_BENCHMARKS {
            return Err(BenchmarkError::TooMany { len: self.0.len() });
        }
        Ok(())
    }

    /// Whether every entry of `self` is at least the entry of `need` (missing entries are 0).
    ///
    /// The error is the first failing `(index, have, need)`.
    pub fn covers(&self, need: &Benchmarks) -> Result<(), (usize, u64, u64)> {
        for (i, &needed) in need.0.iter().enumerate() {
            let have = self.get(i);
            if have < needed {
                return Err((i, have, needed));
            }
        }
        Ok(())
    }

    /// The benchmarks of a `share_num / share_den` part of this machine.
    ///
    /// [`SplitRule::Proportional`] entries become `ceil(value * num / den)`
    /// (saturating at `u64::MAX` for shares above 1); [`SplitRule::Min`] and
    /// [`SplitRule::None`] entries, and entries past the table, are kept.
    ///
    /// # Panics
    ///
    /// If `share_den` is 0.
    pub fn split(&self, share_num: u64, share_den: u64) -> Benchmarks {
        let den = u128::from(share_den);
        let values = self
            .0
            .iter()
            .enumerate()
            .map(
                |(i, &value)| match BENCHMARKS.get(i).map(|info| info.split) {
                    Some(SplitRule::Proportional) => {
                        let part = (u128::from(value) * u128::from(share_num)).div_ceil(den);
                        u64::try_from(part).unwrap_or(u64::MAX)
                    }
                    _ => value,
                },
            )
            .collect();
        Benchmarks(values)
    }
}

impl From<Vec<u64>> for Benchmarks {
    fn from(values: Vec<u64>) -> Benchmarks {
        Benchmarks(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ids_match_positions() {
        for (i, info) in BENCHMARKS.iter().enumerate() {
            assert_eq!(info.id, i);
            assert_eq!(BenchmarkId(i).info(), Some(info));
        }
    }

    #[test]
    fn table_follows_the_design() {
        let expected = [
            ("cpu-multi", SplitRule::Proportional),
            ("cpu-single", SplitRule::None),
            ("cpu-cores", SplitRule::Proportional),
            ("ram-size", SplitRule::Proportional),
            ("storage-size", SplitRule::Proportional),
            ("net-download", SplitRule::Proportional),
            ("net-upload", SplitRule::Proportional),
            ("gpu-count", SplitRule::Proportional),
            ("gpu-mem", SplitRule::Min),
            ("gpu-fp32", SplitRule::Min),
            ("gpu-mem-bandwidth", SplitRule::Min),
            ("gpu-nvidia", SplitRule::Min),
            ("gpu-amd", SplitRule::Min),
            ("storage-write", SplitRule::None),
        ];
        let actual: Vec<_> = BENCHMARKS.iter().map(|b| (b.code, b.split)).collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn ids_are_found_by_code() {
        assert_eq!(
            BenchmarkId::from_code("gpu-mem-bandwidth"),
            Some(BenchmarkId::GPU_MEM_BANDWIDTH)
        );
        assert_eq!(BenchmarkId::from_code("ram"), None);
        assert_eq!(BenchmarkId(14).info(), None);
    }

    #[test]
    fn missing_entries_read_as_zero() {
        let b = Benchmarks::new(vec![5]);
        assert_eq!(b.get(0), 5);
        assert_eq!(b.get(1), 0);
        assert_eq!(b.by_code("cpu-multi"), Some(5));
        assert_eq!(b.by_code("gpu-count"), Some(0));
        assert_eq!(b.by_code("nope"), None);
    }

    #[test]
    fn set_pads_with_zeros() {
        let mut b = Benchmarks::default();
        b.set_by_code("cpu-cores", 8).unwrap();
        assert_eq!(b.as_slice(), &[0, 0, 8]);
        assert_eq!(
            b.set_by_code("cores", 1),
            Err(BenchmarkError::UnknownCode("cores".into()))
        );
    }

    #[test]
    fn check_len_enforces_the_on_chain_cap() {
        assert!(Benchmarks::new(vec![0; MAX_BENCHMARKS]).check_len().is_ok());
        assert_eq!(
            Benchmarks::new(vec![0; MAX_BENCHMARKS + 1]).check_len(),
            Err(BenchmarkError::TooMany { len: 65 })
        );
    }

    #[test]
    fn covers_reports_first_shortfall() {
        let have = Benchmarks::new(vec![10, 5, 7]);
        assert_eq!(have.covers(&Benchmarks::new(vec![10, 5])), Ok(()));
        assert_eq!(have.covers(&Benchmarks::new(vec![1, 6, 8])), Err((1, 5, 6)));
    }

    #[test]
    fn covers_counts_missing_entries_as_zero() {
        let have = Benchmarks::new(vec![10]);
        assert_eq!(have.covers(&Benchmarks::new(vec![1, 0, 0])), Ok(()));
        assert_eq!(have.covers(&Benchmarks::new(vec![1, 0, 3])), Err((2, 0, 3)));
        assert_eq!(
            Benchmarks::new(vec![1, 2]).covers(&Benchmarks::default()),
            Ok(())
        );
    }

    #[test]
    fn split_scales_proportional_entries_rounding_up() {
        let whole = Benchmarks::new(vec![10, 7, 3, u64::MAX]);
        let third = whole.split(1, 3);
        // cpu-multi ceil(10/3) = 4, cpu-single kept, cpu-cores ceil(3/3) = 1.
        assert_eq!(third.get(0), 4);
        assert_eq!(third.get(1), 7);
        assert_eq!(third.get(2), 1);
        assert_eq!(third.get(3), u64::MAX.div_ceil(3));
    }

    #[test]
    fn split_keeps_min_and_none_entries() {
        let mut whole = Benchmarks::default();
        whole.set(BenchmarkId::GPU_COUNT.0, 4);
        whole.set(BenchmarkId::GPU_MEM.0, 24);
        whole.set(BenchmarkId::STORAGE_WRITE.0, 500);
        whole.set(20, 9);
        let half = whole.split(1, 2);
        assert_eq!(half.get(BenchmarkId::GPU_COUNT.0), 2);
        assert_eq!(half.get(BenchmarkId::GPU_MEM.0), 24);
        assert_eq!(half.get(BenchmarkId::STORAGE_WRITE.0), 500);
        assert_eq!(half.get(20), 9);
    }

    #[test]
    fn split_saturates_above_a_whole_machine() {
        assert_eq!(Benchmarks::new(vec![u64::MAX]).split(2, 1).get(0), u64::MAX);
    }

    #[test]
    fn benchmarks_serialize_as_a_plain_array() {
        let b = Benchmarks::new(vec![1, 2]);
        assert_eq!(serde_json::to_string(&b).unwrap(), "[1,2]");
    }
}
