//! Container logs: CRI records from both streams, split long lines, a size
//! cap with rotation, and reading back with tail, since and follow.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs::{self, OpenOptions},
    io::Write,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::Duration,
};

use chrono::TimeDelta;
use fog_runtime::logs::{
    LogError, LogLimits, LogLine, LogQuery, LogReader, LogWriter, Stream, Streams, read,
    rotated_path,
};

fn log_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("container.log")
}

fn all(path: &Path) -> Vec<LogLine> {
    read(path, &LogQuery::default()).unwrap()
}

fn text(line: &LogLine) -> String {
    String::from_utf8(line.content.clone()).unwrap()
}

/// Joins partial records into whole lines, per stream.
fn reassemble(lines: &[LogLine], stream: Stream) -> Vec<Vec<u8>> {
    let mut whole = Vec::new();
    let mut current = Vec::new();
    for line in lines.iter().filter(|l| l.stream == stream) {
        current.extend_from_slice(&line.content);
        if !line.partial {
            whole.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        whole.push(current);
    }
    whole
}

fn total_size(path: &Path) -> u64 {
    let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    size(path) + size(&rotated_path(path))
}

#[test]
fn lines_from_both_streams_come_back_in_order_with_their_stream() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LogWriter::open(log_path(&dir), LogLimits::new(1 << 20)).unwrap();
    writer.write_line(Stream::Stdout, b"one\n").unwrap();
    writer.write_line(Stream::Stderr, b"two").unwrap();
    writer.write_line(Stream::Stdout, b"").unwrap();
    writer
        .write_line(Stream::Stdout, b"four with spaces ")
        .unwrap();

    let lines = all(writer.path());
    let got: Vec<(Stream, bool, String)> = lines
        .iter()
        .map(|l| (l.stream, l.partial, text(l)))
        .collect();
    assert_eq!(
        got,
        [
            (Stream::Stdout, false, "one".to_owned()),
            (Stream::Stderr, false, "two".to_owned()),
            (Stream::Stdout, false, String::new()),
            (Stream::Stdout, false, "four with spaces ".to_owned()),
        ]
    );
    assert!(lines.windows(2).all(|w| w[0].time < w[1].time));
}

#[test]
fn records_are_written_in_the_cri_format() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LogWriter::open(log_path(&dir), LogLimits::new(1 << 20)).unwrap();
    writer.write_line(Stream::Stderr, b"oops").unwrap();

    let raw = fs::read_to_string(writer.path()).unwrap();
    let (time, rest) = raw.split_once(' ').unwrap();
    assert_eq!(rest, "stderr F oops\n");
    assert!(time.ends_with('Z') && time.len() == 30, "{time}");
    chrono::DateTime::parse_from_rfc3339(time).unwrap();
}

#[test]
fn the_filter_keeps_only_the_wanted_stream() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LogWriter::open(log_path(&dir), LogLimits::new(1 << 20)).unwrap();
    writer.write_line(Stream::Stdout, b"out").unwrap();
    writer.write_line(Stream::Stderr, b"err").unwrap();

    let query = LogQuery {
        streams: Streams::Stderr,
        ..LogQuery::default()
    };
    let lines = read(writer.path(), &query).unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0].stream, text(&lines[0])),
        (Stream::Stderr, "err".into())
    );
}

#[test]
fn long_lines_are_split_into_partial_records_that_reassemble() {
    let dir = tempfile::tempdir().unwrap();
    let limits = LogLimits {
        max_bytes: 1 << 20,
        max_line: 100,
    };
    let writer = LogWriter::open(log_path(&dir), limits).unwrap();
    let long: Vec<u8> = (0..250).map(|i| b'a' + (i % 26) as u8).collect();
    writer.write_line(Stream::Stdout, &long).unwrap();
    writer.write_line(Stream::Stdout, b"short").unwrap();

    let lines = all(writer.path());
    let shape: Vec<(bool, usize)> = lines.iter().map(|l| (l.partial, l.content.len())).collect();
    assert_eq!(shape, [(true, 100), (true, 100), (false, 50), (false, 5)]);
    assert_eq!(
        reassemble(&lines, Stream::Stdout),
        [long, b"short".to_vec()]
    );
}

#[test]
fn copied_pipes_split_at_newlines_and_at_the_line_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limits = LogLimits {
        max_bytes: 1 << 20,
        max_line: 8,
    };
    let writer = LogWriter::open(log_path(&dir), limits).unwrap();
    // A line of exactly the limit stays whole; a longer one is split; the
    // unterminated end is kept as a final partial record.
    let input = b"12345678\n123456789abc\n\nend";
    let copied = writer.copy_from(Stream::Stdout, &input[..]).unwrap();
    assert_eq!(copied, input.len() as u64);

    let got: Vec<(bool, String)> = all(writer.path())
        .iter()
        .map(|l| (l.partial, text(l)))
        .collect();
    assert_eq!(
        got,
        [
            (false, "12345678".to_owned()),
            (true, "12345678".to_owned()),
            (false, "9abc".to_owned()),
            (false, String::new()),
            (true, "end".to_owned()),
        ]
    );
}

#[test]
fn concurrent_streams_never_interleave_inside_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Arc::new(LogWriter::open(log_path(&dir), LogLimits::new(1 << 24)).unwrap());
    let pipe_of = |tag: &str| -> Vec<u8> {
        (0..2000)
            .flat_map(|i| format!("{tag}-{i:05}-{}\n", "x".repeat(200)).into_bytes())
            .collect()
    };
    let threads: Vec<_> = [(Stream::Stdout, "out"), (Stream::Stderr, "err")]
        .into_iter()
        .map(|(stream, tag)| {
            let writer = Arc::clone(&writer);
            let input = pipe_of(tag);
            thread::spawn(move || writer.copy_from(stream, &input[..]).unwrap())
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    let lines = all(writer.path());
    assert_eq!(lines.len(), 4000);
    for (stream, tag) in [(Stream::Stdout, "out"), (Stream::Stderr, "err")] {
        let got: Vec<String> = lines
            .iter()
            .filter(|l| l.stream == stream)
            .map(text)
            .collect();
        let expected: Vec<String> = (0..2000)
            .map(|i| format!("{tag}-{i:05}-{}", "x".repeat(200)))
            .collect();
        assert_eq!(got, expected);
    }
}

#[test]
fn the_cap_rotates_the_file_keeping_disk_use_bounded_and_the_newest_lines() {
    let dir = tempfile::tempdir().unwrap();
    let limits = LogLimits {
        max_bytes: 4096,
        max_line: 256,
    };
    let writer = LogWriter::open(log_path(&dir), limits).unwrap();
    for i in 0..1000 {
        writer
            .write_line(Stream::Stdout, format!("line {i:04}").as_bytes())
            .unwrap();
        assert!(fs::metadata(writer.path()).unwrap().len() <= 4096);
        assert!(total_size(writer.path()) <= 2 * 4096);
    }

    assert!(rotated_path(writer.path()).exists());
    let numbers: Vec<u32> = all(writer.path())
        .iter()
        .map(|l| text(l)[5..].parse().unwrap())
        .collect();
    assert_eq!(numbers.last(), Some(&999));
    // Contiguous: the rotated file and the current one join up.
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert!(numbers[0] > 0, "the oldest lines were dropped");
}

#[test]
fn tail_returns_the_last_n_records() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LogWriter::open(log_path(&dir), LogLimits::new(1 << 20)).unwrap();
    for i in 0..10 {
        writer
            .write_line(Stream::Stdout, format!("{i}").as_bytes())
            .unwrap();
    }

    let query = |tail| LogQuery {
        tail: Some(tail),
        ..LogQuery::default()
    };
    let got: Vec<String> = read(writer.path(), &query(3))
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert_eq!(got, ["7", "8", "9"]);
    assert_eq!(read(writer.path(), &query(50)).unwrap().len(), 10);
    assert!(read(writer.path(), &query(0)).unwrap().is_empty());
}

#[test]
fn tail_spans_the_rotated_file() {
    let dir = tempfile::tempdir().unwrap();
    let limits = LogLimits {
        max_bytes: 1024,
        max_line: 256,
    };
    let writer = LogWriter::open(log_path(&dir), limits).unwrap();
    for i in 0..40 {
        writer
            .write_line(Stream::Stdout, format!("line {i:04}").as_bytes())
            .unwrap();
    }
    let current = fs::read_to_string(writer.path()).unwrap().lines().count();
    let tail = current + 2;

    let query = LogQuery {
        tail: Some(tail),
        ..LogQuery::default()
    };
    let got: Vec<String> = read(writer.path(), &query)
        .unwrap()
        .iter()
        .map(text)
        .collect();
    let expected: Vec<String> = (40 - tail..40).map(|i| format!("line {i:04}")).collect();
    assert_eq!(got, expected);
}

#[test]
fn since_keeps_only_records_written_at_or_after_the_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LogWriter::open(log_path(&dir), LogLimits::new(1 << 20)).unwrap();
    for i in 0..3 {
        writer
            .write_line(Stream::Stdout, format!("before {i}").as_bytes())
            .unwrap();
    }
    // The cutoff: just after the last record written so far (timestamps
    // strictly increase, so everything written later is at or after it).
    let cutoff = all(writer.path()).last().unwrap().time + TimeDelta::nanoseconds(1);
    for i in 0..2 {
        writer
            .write_line(Stream::Stderr, format!("after {i}").as_bytes())
            .unwrap();
    }

    let query = LogQuery {
        since: Some(cutoff),
        ..LogQuery::default()
    };
    let got: Vec<String> = read(writer.path(), &query)
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert_eq!(got, ["after 0", "after 1"]);
}

#[test]
fn follow_sees_lines_written_after_it_started_and_ends_when_told_to_stop() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LogWriter::open(log_path(&dir), LogLimits::new(1 << 20)).unwrap();
    writer.write_line(Stream::Stdout, b"already there").unwrap();
    let exited = Arc::new(AtomicBool::new(false));

    let query = LogQuery {
        follow: true,
        ..LogQuery::default()
    };
    let stop = {
        let exited = Arc::clone(&exited);
        move || exited.load(Ordering::SeqCst)
    };
    let follower = LogReader::open(writer.path(), query, stop)
        .unwrap()
        .with_poll_interval(Duration::from_millis(5));
    let shim = thread::spawn(move || {
        for i in 0..20 {
            writer
                .write_line(Stream::Stderr, format!("new {i}").as_bytes())
                .unwrap();
            if i % 5 == 0 {
                thread::sleep(Duration::from_millis(10));
            }
        }
        exited.store(true, Ordering::SeqCst);
    });

    let got: Vec<String> = follower.map(|l| text(&l.unwrap())).collect();
    shim.join().unwrap();
    let mut expected = vec!["already there".to_owned()];
    expected.extend((0..20).map(|i| format!("new {i}")));
    assert_eq!(got, expected);
}

#[test]
fn follow_crosses_rotations_without_losing_or_repeating_lines() {
    let dir = tempfile::tempdir().unwrap();
    let limits = LogLimits {
        max_bytes: 512,
        max_line: 128,
    };
    let writer = LogWriter::open(log_path(&dir), limits).unwrap();
    let exited = Arc::new(AtomicBool::new(false));
    let (seen_tx, seen_rx) = mpsc::channel::<()>();

    let query = LogQuery {
        follow: true,
        ..LogQuery::default()
    };
    let stop = {
        let exited = Arc::clone(&exited);
        move || exited.load(Ordering::SeqCst)
    };
    let follower = LogReader::open(writer.path(), query, stop)
        .unwrap()
        .with_poll_interval(Duration::from_millis(1));
    // The shim writes in batches of a few lines and waits for the follower
    // to see each batch, so that the log rotates many times while followed
    // but never more than once between two reads.
    let shim = thread::spawn(move || {
        let ino = || fs::metadata(writer.path()).unwrap().ino();
        let first = ino();
        for batch in 0..40 {
            for i in 0..3 {
                writer
                    .write_line(Stream::Stdout, format!("line {batch:02}-{i}").as_bytes())
                    .unwrap();
            }
            seen_rx.recv().unwrap();
        }
        let rotated = ino() != first;
        exited.store(true, Ordering::SeqCst);
        rotated
    });

    let mut got = Vec::new();
    for line in follower {
        got.push(text(&line.unwrap()));
        if got.len() % 3 == 0 {
            seen_tx.send(()).unwrap();
        }
    }
    assert!(shim.join().unwrap(), "the log rotated while followed");
    let expected: Vec<String> = (0..40)
        .flat_map(|b| (0..3).map(move |i| format!("line {b:02}-{i}")))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn follow_catches_up_after_two_rotations_between_reads() {
    let dir = tempfile::tempdir().unwrap();
    let limits = LogLimits {
        max_bytes: 512,
        max_line: 128,
    };
    let writer = LogWriter::open(log_path(&dir), limits).unwrap();
    writer.write_line(Stream::Stdout, b"line 000").unwrap();
    let query = LogQuery {
        follow: true,
        ..LogQuery::default()
    };
    let follower = LogReader::open(writer.path(), query, || true).unwrap();

    // The follower has not read since it opened; rotate exactly twice.
    let ino = || fs::metadata(writer.path()).unwrap().ino();
    let mut files = vec![ino()];
    let mut n = 1;
    while files.len() < 3 {
        writer
            .write_line(Stream::Stdout, format!("line {n:03}").as_bytes())
            .unwrap();
        n += 1;
        if ino() != *files.last().unwrap() {
            files.push(ino());
        }
    }
    writer
        .write_line(Stream::Stdout, format!("line {n:03}").as_bytes())
        .unwrap();

    let got: Vec<String> = follower.map(|l| text(&l.unwrap())).collect();
    let expected: Vec<String> = (0..=n).map(|i| format!("line {i:03}")).collect();
    assert_eq!(got, expected);
}

#[test]
fn a_torn_final_line_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LogWriter::open(log_path(&dir), LogLimits::new(1 << 20)).unwrap();
    writer.write_line(Stream::Stdout, b"whole").unwrap();
    let mut file = OpenOptions::new().append(true).open(writer.path()).unwrap();
    file.write_all(b"2024-05-01T12:00:00.123456789Z stdout F to")
        .unwrap();

    let got: Vec<String> = all(writer.path()).iter().map(text).collect();
    assert_eq!(got, ["whole"]);
}

#[test]
fn malformed_lines_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LogWriter::open(log_path(&dir), LogLimits::new(1 << 20)).unwrap();
    writer.write_line(Stream::Stdout, b"first").unwrap();
    let mut file = OpenOptions::new().append(true).open(writer.path()).unwrap();
    for junk in [
        &b"not a log line\n"[..],
        b"2024-05-01T12:00:00Z stdin F wrong stream\n",
        b"2024-05-01T12:00:00Z stdout X wrong tag\n",
        b"yesterday stdout F bad time\n",
        b"\n",
    ] {
        file.write_all(junk).unwrap();
    }
    writer.write_line(Stream::Stdout, b"second").unwrap();

    let got: Vec<String> = all(writer.path()).iter().map(text).collect();
    assert_eq!(got, ["first", "second"]);
}

#[test]
fn reopening_after_a_crash_cuts_the_torn_record_and_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let writer = LogWriter::open(&path, LogLimits::new(1 << 20)).unwrap();
    writer
        .write_line(Stream::Stdout, b"before the crash")
        .unwrap();
    drop(writer);
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(b"2024-05-01T12:00:00.123456789Z stdout F half a re")
        .unwrap();

    let writer = LogWriter::open(&path, LogLimits::new(1 << 20)).unwrap();
    writer
        .write_line(Stream::Stdout, b"after the restart")
        .unwrap();

    let got: Vec<String> = all(&path).iter().map(text).collect();
    assert_eq!(got, ["before the crash", "after the restart"]);
}

#[test]
fn a_cap_too_small_for_one_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = LogWriter::open(log_path(&dir), LogLimits::new(1000)).unwrap_err();
    assert!(matches!(err, LogError::BadLimits(_)), "{err}");
    assert!(err.to_string().contains("raise max_bytes"), "{err}");
}

#[test]
fn reading_a_log_that_does_not_exist_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = read(log_path(&dir), &LogQuery::default()).unwrap_err();
    assert!(matches!(err, LogError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("container.log"), "{err}");
}
