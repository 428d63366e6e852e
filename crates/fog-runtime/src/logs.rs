//! Size-capped container logs in the CRI log format, read back with tail,
//! since and follow.
//!
//! A container's log shim reads the container's stdout and stderr pipes, one
//! thread each, and hands them to one [`LogWriter`]. Every line becomes one
//! record in the CRI log format (what kubelet and containerd write):
//!
//! ```text
//! 2024-05-01T12:00:00.123456789Z stdout F hello world
//! 2024-05-01T12:00:00.123457001Z stderr P first 16 KiB of a longer line...
//! ```
//!
//! The tag is `F` for a full line and `P` for a part of one: a line longer
//! than [`LogLimits::max_line`] is split into parts, all `P` but the last,
//! and a stream that ends without a newline leaves a final `P`. Each record
//! is written with one `write` under a lock, so the two streams never
//! interleave inside a record, and straight to the file (no user-space
//! buffer), so a reader sees it at once. Timestamps strictly increase within
//! one writer, even if the wall clock steps back.
//!
//! When a record would take the file past [`LogLimits::max_bytes`], the file
//! is renamed to `<path>.1` (replacing the older one) and a new file is
//! started: the log never takes more than twice the cap on disk, and the
//! newest lines are the ones kept.
//!
//! [`LogReader`] parses both files back in order, filtered by stream and time
//! and cut to the last N records ([`LogQuery`]); with `follow` it then polls
//! for new records, across rotations, until the caller's `stop` condition
//! says the container is gone. [`read`] is the one-shot form. Lines that do
//! not parse (a record torn by a crash, stray bytes) are skipped.

use std::{
    collections::VecDeque,
    fs::{self, File, OpenOptions},
    io::{self, BufRead, BufReader, Read, Write},
    os::unix::fs::{FileExt, MetadataExt},
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
    thread,
    time::Duration,
};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

/// The default longest line stored as one record, 16 KiB (as containerd).
pub const DEFAULT_MAX_LINE: usize = 16 * 1024;

/// The bytes a record adds to its content: a 30-byte timestamp
/// (`2024-05-01T12:00:00.123456789Z`), the stream, the tag, three spaces and
/// the newline.
const RECORD_OVERHEAD: usize = 30 + 1 + 6 + 1 + 1 + 1 + 1;

/// How often [`LogReader`] looks for new records while following, unless
/// told otherwise ([`LogReader::with_poll_interval`]).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Which of the container's output streams a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The stream's name in the log format: `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }

    fn parse(name: &[u8]) -> Option<Self> {
        match name {
            b"stdout" => Some(Self::Stdout),
            b"stderr" => Some(Self::Stderr),
            _ => None,
        }
    }
}

/// Which streams a [`LogQuery`] wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Streams {
    /// Standard output only.
    Stdout,
    /// Standard error only.
    Stderr,
    /// Both, interleaved as written.
    #[default]
    Both,
}

impl Streams {
    /// Whether records of `stream` are wanted.
    pub fn includes(self, stream: Stream) -> bool {
        match self {
            Self::Stdout => stream == Stream::Stdout,
            Self::Stderr => stream == Stream::Stderr,
            Self::Both => true,
        }
    }
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When the shim wrote it.
    pub time: DateTime<Utc>,
    /// The stream it came from.
    pub stream: Stream,
    /// Whether this is a part of a line (`P`) that the next record of the
    /// same stream continues, rather than a whole line or its last part (`F`).
    pub partial: bool,
    /// The line's bytes, without the newline; not necessarily UTF-8.
    pub content: Vec<u8>,
}

impl LogLine {
    /// Parses one record (without its newline); `None` if it is malformed.
    fn parse(record: &[u8]) -> Option<Self> {
        let mut fields = record.splitn(4, |&b| b == b' ');
        let time = std::str::from_utf8(fields.next()?).ok()?;
        let time = DateTime::parse_from_rfc3339(time).ok()?.with_timezone(&Utc);
        let stream = Stream::parse(fields.next()?)?;
        let partial = match fields.next()? {
            b"F" => false,
            b"P" => true,
            _ => return None,
        };
        let content = fields.next()?.to_vec();
        Some(Self {
            time,
            stream,
            partial,
            content,
        })
    }
}

/// How big the log may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// The most bytes one file holds before it is rotated; the log takes at
    /// most twice this on disk (the file and the rotated one).
    pub max_bytes: u64,
    /// The longest line kept as one record; longer ones are split into parts.
    pub max_line: usize,
}

impl LogLimits {
    /// A cap of `max_bytes` per file with lines split at [`DEFAULT_MAX_LINE`].
    pub fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            max_line: DEFAULT_MAX_LINE,
        }
    }

    fn check(self) -> Result<(), LogError> {
        if self.max_line == 0 {
            return Err(LogError::BadLimits(
                "max_line is 0: lines must be split into parts of at least one byte".into(),
            ));
        }
        let biggest = self.max_line as u64 + RECORD_OVERHEAD as u64;
        if self.max_bytes < biggest {
            return Err(LogError::BadLimits(format!(
                "a cap of {} bytes cannot hold one record of a {}-byte line ({biggest} bytes with \
                 its header): raise max_bytes to at least {biggest} or lower max_line",
                self.max_bytes, self.max_line
            )));
        }
        Ok(())
    }
}

/// Why writing or reading a log failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The limits cannot work.
    #[error("invalid log limits: {0}")]
    BadLimits(String),
    /// Neither the log nor its rotated file exists.
    #[error(
        "no container log at {path} (nor its rotated file {rotated}): check the path, and that \
         the container's log shim has started"
    )]
    NotFound {
        /// The log file.
        path: PathBuf,
        /// Its rotated file.
        rotated: PathBuf,
    },
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> LogError {
    let what = what.into();
    move |source| LogError::Io { what, source }
}

/// Where the log at `path` is rotated to: `path` with `.1` appended.
pub fn rotated_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Writes a container's output to a size-capped log. Shared by the shim's
/// stdout and stderr threads (it is `Send + Sync`; every method takes
/// `&self`).
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    rotated: PathBuf,
    limits: LogLimits,
    state: Mutex<WriterState>,
}

#[derive(Debug)]
struct WriterState {
    file: File,
    /// The bytes in `file`.
    size: u64,
    /// The last record's timestamp, to keep them strictly increasing.
    last: Option<DateTime<Utc>>,
}

impl LogWriter {
    /// Opens the log at `path` (its directory must exist), appending to what
    /// is there: a shim restarted after a crash carries on the same log. A
    /// record torn by the crash (no final newline) is cut off first, so that
    /// the next record does not run into it.
    pub fn open(path: impl Into<PathBuf>, limits: LogLimits) -> Result<Self, LogError> {
        limits.check()?;
        let path = path.into();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_err(format!("opening log {}", path.display())))?;
        let size = cut_torn_tail(&file, &path)?;
        Ok(Self {
            rotated: rotated_path(&path),
            path,
            limits,
            state: Mutex::new(WriterState {
                file,
                size,
                last: None,
            }),
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `line` (a trailing newline is optional) from `stream`. A line
    /// longer than [`LogLimits::max_line`] becomes several records, all but
    /// the last partial; newlines inside `line` start new lines.
    pub fn write_line(&self, stream: Stream, line: &[u8]) -> Result<(), LogError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        for piece in line.split(|&b| b == b'\n') {
            if piece.is_empty() {
                self.write_record(stream, false, piece)?;
                continue;
            }
            let mut parts = piece.chunks(self.limits.max_line).peekable();
            while let Some(part) = parts.next() {
                self.write_record(stream, parts.peek().is_some(), part)?;
            }
        }
        Ok(())
    }

    /// Copies `reader` (a container's stdout or stderr pipe) into the log
    /// until it ends, one record per line as lines complete; the shim runs
    /// one of these per stream on its own thread. Returns the bytes read.
    /// Output that ends without a newline is kept as a final partial record.
    pub fn copy_from(&self, stream: Stream, reader: impl Read) -> Result<u64, LogError> {
        let mut reader = BufReader::with_capacity(64 * 1024, reader);
        let max_line = self.limits.max_line;
        let mut pending: Vec<u8> = Vec::new();
        let mut total = 0u64;
        loop {
            let buf = match reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if !pending.is_empty() {
                        self.write_record(stream, true, &pending)?;
                    }
                    return Err(io_err(format!(
                        "reading the container's {}",
                        stream.as_str()
                    ))(e));
                }
            };
            if buf.is_empty() {
                if !pending.is_empty() {
                    self.write_record(stream, true, &pending)?;
                }
                return Ok(total);
            }
            // `pending` never exceeds `max_line`: take at most what still
            // fits, plus one byte to see whether a newline ends it there.
            let room = max_line - pending.len();
            let window = &buf[..buf.len().min(room + 1)];
            let used = match window.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    pending.extend_from_slice(&buf[..end]);
                    self.write_record(stream, false, &pending)?;
                    pending.clear();
                    end + 1
                }
                None if buf.len() > room => {
                    pending.extend_from_slice(&buf[..room]);
                    self.write_record(stream, true, &pending)?;
                    pending.clear();
                    room
                }
                None => {
                    pending.extend_from_slice(buf);
                    buf.len()
                }
            };
            reader.consume(used);
            total += used as u64;
        }
    }

    /// Writes one record, rotating first if it would not fit under the cap.
    fn write_record(&self, stream: Stream, partial: bool, content: &[u8]) -> Result<(), LogError> {
        // A panic while holding the lock leaves the state usable: at worst
        // `size` lags, and the next rotation comes a little late.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut time = Utc::now();
        if let Some(last) = state.last
            && time <= last
        {
            time = last + TimeDelta::nanoseconds(1);
        }
        let mut record = Vec::with_capacity(content.len() + RECORD_OVERHEAD);
        record.extend_from_slice(time.to_rfc3339_opts(SecondsFormat::Nanos, true).as_bytes());
        record.push(b' ');
        record.extend_from_slice(stream.as_str().as_bytes());
        record.extend_from_slice(if partial { b" P " } else { b" F " });
        record.extend_from_slice(content);
        record.push(b'\n');

        if state.size > 0 && state.size + record.len() as u64 > self.limits.max_bytes {
            self.rotate(&mut state)?;
        }
        if let Err(e) = state.file.write_all(&record) {
            // Cut off whatever part of the record made it, so that the next
            // record starts on a line of its own.
            let _ = state.file.set_len(state.size);
            return Err(io_err(format!("writing log {}", self.path.display()))(e));
        }
        state.size += record.len() as u64;
        state.last = Some(time);
        Ok(())
    }

    /// Moves the full file to `<path>.1` and starts an empty one. Every write
    /// to the old file has finished (we hold the lock), which is what lets a
    /// follower drain it once it sees the rename.
    fn rotate(&self, state: &mut WriterState) -> Result<(), LogError> {
        fs::rename(&self.path, &self.rotated).map_err(io_err(format!(
            "rotating log {} to {}",
            self.path.display(),
            self.rotated.display()
        )))?;
        state.file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(io_err(format!(
                "opening log {} after rotation",
                self.path.display()
            )))?;
        state.size = 0;
        Ok(())
    }
}

/// Truncates `file` after its last newline and returns its new size.
fn cut_torn_tail(file: &File, path: &Path) -> Result<u64, LogError> {
    let what = || format!("checking the end of log {}", path.display());
    let len = file.metadata().map_err(io_err(what()))?.len();
    let mut end = len;
    let mut chunk = vec![0u8; 8 * 1024];
    let keep = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(chunk.len() as u64);
        // `end - start` is at most the chunk's length, which is a usize.
        let part = &mut chunk[..(end - start) as usize];
        file.read_exact_at(part, start).map_err(io_err(what()))?;
        if let Some(newline) = part.iter().rposition(|&b| b == b'\n') {
            break start + newline as u64 + 1;
        }
        end = start;
    };
    if keep < len {
        tracing::warn!(
            log = %path.display(),
            torn_bytes = len - keep,
            "cutting off a torn record at the end of the log"
        );
        file.set_len(keep).map_err(io_err(format!(
            "cutting a torn record off log {}",
            path.display()
        )))?;
    }
    Ok(keep)
}

/// What to read from a log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only the last N records of what is already written (after the stream
    /// and time filters); records are counted, so each part of a split line
    /// counts as one.
    pub tail: Option<usize>,
    /// Only records written at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Which streams.
    pub streams: Streams,
    /// After what is already written, wait for new records until the `stop`
    /// condition given to [`LogReader::open`] holds.
    pub follow: bool,
}

impl LogQuery {
    fn wants(&self, line: &LogLine) -> bool {
        self.streams.includes(line.stream) && self.since.is_none_or(|since| line.time >= since)
    }
}

/// Reads the log written at `path` once, as `query` says (`follow` is
/// ignored: this never waits).
pub fn read(path: impl Into<PathBuf>, query: &LogQuery) -> Result<Vec<LogLine>, LogError> {
    let query = LogQuery {
        follow: false,
        ..query.clone()
    };
    LogReader::open(path, query, || true)?.collect()
}

/// The identity of an open file, to tell whether a path still names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(metadata: &fs::Metadata) -> Self {
        Self {
            dev: metadata.dev(),
            ino: metadata.ino(),
        }
    }
}

/// What `path` names now, if anything.
fn file_id_at(path: &Path) -> Result<Option<FileId>, LogError> {
    match fs::metadata(path) {
        Ok(metadata) => Ok(Some(FileId::of(&metadata))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(format!("looking at log {}", path.display()))(e)),
    }
}

/// One log file being read.
#[derive(Debug)]
struct Source {
    path: PathBuf,
    id: FileId,
    reader: BufReader<File>,
    /// The start of a record whose newline has not been read yet.
    pending: Vec<u8>,
}

impl Source {
    /// Opens `path`, or `None` if there is no such file.
    fn open(path: &Path) -> Result<Option<Self>, LogError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(format!("opening log {}", path.display()))(e)),
        };
        let metadata = file
            .metadata()
            .map_err(io_err(format!("looking at log {}", path.display())))?;
        Ok(Some(Self {
            path: path.to_owned(),
            id: FileId::of(&metadata),
            reader: BufReader::new(file),
            pending: Vec::new(),
        }))
    }

    /// Reads every complete record there is now, queueing the wanted ones.
    /// The start of a record still being written stays in `pending`.
    fn read_available(
        &mut self,
        query: &LogQuery,
        out: &mut VecDeque<LogLine>,
    ) -> Result<(), LogError> {
        loop {
            self.reader
                .read_until(b'\n', &mut self.pending)
                .map_err(io_err(format!("reading log {}", self.path.display())))?;
            let Some(record) = self.pending.strip_suffix(b"\n") else {
                return Ok(());
            };
            match LogLine::parse(record) {
                Some(line) if query.wants(&line) => out.push_back(line),
                Some(_) => {}
                None => tracing::warn!(
                    log = %self.path.display(),
                    "skipping a malformed log line"
                ),
            }
            self.pending.clear();
        }
    }

    /// Called when nothing more will be written to this file: a record
    /// without its newline is torn, and dropped.
    fn finish(&mut self) {
        if !self.pending.is_empty() {
            tracing::warn!(
                log = %self.path.display(),
                torn_bytes = self.pending.len(),
                "skipping a torn record at the end of the log"
            );
            self.pending.clear();
        }
    }
}

/// Reads a log back as [`LogLine`]s, oldest first, across the rotated file
/// and the current one.
///
/// Without `follow` it yields what was written when it was opened. With
/// `follow` it then polls every [`DEFAULT_POLL_INTERVAL`] (blocking the
/// thread: async callers run it on a blocking thread) for new records,
/// following the writer across rotations, until `stop` returns true; it then
/// reads what is left and ends. `stop` must only turn true once the writer
/// is done (the shim has exited, or a marker file it writes last exists),
/// or the last records may be missed.
///
/// Rotations are followed by file identity: when the file being read is no
/// longer the one at the log's path it is drained (the writer finishes with
/// a file before renaming it) and reading goes on with its successor. If the
/// writer rotates twice between two polls, the intermediate file is found
/// at `<path>.1`; if it rotates three times or more, the files in between
/// are already deleted and their records are missed. Slow readers of fast
/// logs should poll more often or use a larger cap.
pub struct LogReader<S> {
    path: PathBuf,
    query: LogQuery,
    stop: S,
    poll: Duration,
    /// The file being followed; `None` while the log's path names no file.
    current: Option<Source>,
    ready: VecDeque<LogLine>,
    /// Nothing more will be read: only `ready` is left.
    done: bool,
}

impl<S: FnMut() -> bool> LogReader<S> {
    /// Opens the log at `path` (and `<path>.1`) and reads what is there now;
    /// fails if neither file exists.
    pub fn open(path: impl Into<PathBuf>, query: LogQuery, stop: S) -> Result<Self, LogError> {
        let path = path.into();
        let rotated = rotated_path(&path);
        let (older, mut current) = open_pair(&path, &rotated)?;
        if older.is_none() && current.is_none() {
            return Err(LogError::NotFound { path, rotated });
        }
        let mut ready = VecDeque::new();
        if let Some(mut older) = older {
            older.read_available(&query, &mut ready)?;
            older.finish();
        }
        if let Some(current) = &mut current {
            current.read_available(&query, &mut ready)?;
        }
        if let Some(tail) = query.tail {
            let excess = ready.len().saturating_sub(tail);
            ready.drain(..excess);
        }
        let done = !query.follow;
        if done {
            current = None;
        }
        Ok(Self {
            path,
            query,
            stop,
            poll: DEFAULT_POLL_INTERVAL,
            current,
            ready,
            done,
        })
    }

    /// Polls for new records every `interval` instead of every
    /// [`DEFAULT_POLL_INTERVAL`].
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll = interval;
        self
    }

    /// Reads new records from the file being followed and, if the writer has
    /// rotated away from it, from its successors.
    fn advance(&mut self) -> Result<(), LogError> {
        loop {
            let source = match &mut self.current {
                Some(source) => source,
                None => match Source::open(&self.path)? {
                    Some(source) => self.current.insert(source),
                    // Between a rotation's rename and the new file.
                    None => return Ok(()),
                },
            };
            source.read_available(&self.query, &mut self.ready)?;
            match file_id_at(&self.path)? {
                Some(id) if id == source.id => return Ok(()),
                None => return Ok(()),
                Some(_) => {}
            }
            // Rotated away: every write to it happened before the rename we
            // just saw, so one more read gets the rest.
            source.read_available(&self.query, &mut self.ready)?;
            source.finish();
            let finished = source.id;
            let rotated = rotated_path(&self.path);
            self.current = match Source::open(&rotated)? {
                // Rotated again since: the file at `.1` is newer than ours.
                Some(newer) if newer.id != finished => Some(newer),
                _ => Source::open(&self.path)?,
            };
        }
    }
}

/// Opens `<path>.1` and `path` as a consistent pair: if a rotation renames
/// files between the two opens, it tries again.
fn open_pair(path: &Path, rotated: &Path) -> Result<(Option<Source>, Option<Source>), LogError> {
    const ATTEMPTS: usize = 10;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let older = Source::open(rotated)?;
        let current = Source::open(path)?;
        let older_now = file_id_at(rotated)?;
        if older.as_ref().map(|s| s.id) == older_now || attempt == ATTEMPTS {
            // After many attempts the writer is rotating faster than two
            // files can be opened; go on with what we have.
            return Ok((older, current));
        }
    }
}

impl<S: FnMut() -> bool> Iterator for LogReader<S> {
    type Item = Result<LogLine, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(line) = self.ready.pop_front() {
                return Some(Ok(line));
            }
            if self.done {
                return None;
            }
            // Asked before reading, so that once it says stop, this last
            // read sees everything the writer wrote.
            let stopped = (self.stop)();
            if let Err(e) = self.advance() {
                self.done = true;
                return Some(Err(e));
            }
            if stopped {
                self.done = true;
                if let Some(current) = &mut self.current {
                    current.finish();
                }
            } else if self.ready.is_empty() {
                thread::sleep(self.poll);
            }
        }
    }
}
