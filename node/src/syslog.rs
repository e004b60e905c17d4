//! The CommuniGate-style system log: one file per UTC day in `SystemLogs/<node>/`.
//!
//! Owns the files `yyyy-mm-dd.log` in the folder given to [`SystemLog::open`] (the caller
//! passes `base/SystemLogs/<node_name>`, so every node of a cluster writes its own files on the
//! shared base). A record is one line, as CommuniGate writes it:
//!
//! ```text
//! 18:58:08.23 2 QUEUE([70002]) from <john.dite@compinia.de>, 493 bytes (<auto-000000070002@compinia.de>)
//! 18:58:08.02 2 PIPE [70002] received in {Submitted/m11477122701520.sub}, 493 bytes
//! ```
//!
//! i.e. `HH:MM:SS.cc LEVEL MODULE(context) text`, or `MODULE text` when the context is empty.
//!
//! Invariants:
//! - times are UTC, both in the line and in the file name, so the nodes of a cluster agree on
//!   what "18:58:08" and "today's file" mean (CommuniGate uses local time);
//! - one record is one line: line breaks and other control characters in a record are escaped;
//! - each record is appended with a single `write_all` to a file opened in append mode, with no
//!   user-space buffer, so a `kill -9` loses nothing already logged and concurrent writers do not
//!   interleave inside a line;
//! - the file is switched when the UTC date of a record differs from the open file's date;
//! - logging never panics and never fails the caller: I/O errors are reported once through
//!   `tracing::warn!` (again only after a write has succeeded in between) and otherwise ignored.
//!
//! Every record is mirrored to `tracing` (target `mailnode::syslog`) so that stderr shows it.
//!
//! References: `/work/shared/reference/communigate.md` §4 (levels, record shape); the seed
//! transcript in `000_49fe611e748236cc.txt` (18:58:08).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, NaiveDate, Timelike, Utc};

/// CommuniGate log levels; a record is written when its level is at most the configured one.
pub mod level {
    /// "Crashes Only".
    pub const CRASH: u8 = 0;
    /// "Failures".
    pub const FAILURE: u8 = 1;
    /// "Major": connections, logins, messages received and delivered.
    pub const MAJOR: u8 = 2;
    /// "Problems": time-outs, refused commands; CommuniGate's default.
    pub const PROBLEM: u8 = 3;
    /// "Low Level": connection life cycle.
    pub const LOW: u8 = 4;
    /// "All Info": protocol dumps.
    pub const ALL: u8 = 5;
}

/// Handle to the system log; cheap to clone, shared by every component of the node.
#[derive(Clone)]
pub struct SystemLog {
    shared: Arc<Shared>,
}

struct Shared {
    /// Read without the lock so that [`SystemLog::enabled`] is cheap on hot paths.
    level: AtomicU8,
    /// Per-module levels (`UpdateModule SMTP {LogLevel=5;}`): a record whose module tag
    /// starts with a name here is judged by that level instead.
    modules: RwLock<Vec<(String, u8)>>,
    /// The highest of `level` and the module levels, for [`SystemLog::enabled`].
    highest: AtomicU8,
    /// `None` for [`SystemLog::disabled`]: records go to `tracing` only.
    files: Option<Mutex<Files>>,
}

struct Files {
    dir: PathBuf,
    /// The file of `date`, if it is open.
    current: Option<(NaiveDate, File)>,
    /// An I/O error has been reported and no write has succeeded since.
    warned: bool,
}

impl std::fmt::Debug for SystemLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemLog")
            .field("level", &self.level())
            .field("enabled", &self.shared.files.is_some())
            .finish()
    }
}

impl SystemLog {
    /// Opens the log in `dir` (created if missing) at `level` (clamped to 0..=5), and opens
    /// today's file so that an unwritable folder is reported at start-up.
    ///
    /// # Errors
    /// The I/O error of creating the folder or opening today's file.
    pub fn open(dir: &Path, level: u8) -> std::io::Result<SystemLog> {
        std::fs::create_dir_all(dir)?;
        let today = Utc::now().date_naive();
        let file = open_day(dir, today)?;
        Ok(SystemLog {
            shared: Arc::new(Shared {
                level: AtomicU8::new(level.min(level::ALL)),
                modules: RwLock::new(Vec::new()),
                highest: AtomicU8::new(level.min(level::ALL)),
                files: Some(Mutex::new(Files {
                    dir: dir.to_owned(),
                    current: Some((today, file)),
                    warned: false,
                })),
            }),
        })
    }

    /// A log that writes no files, only the `tracing` mirror; for tests of other modules.
    pub fn disabled() -> SystemLog {
        SystemLog {
            shared: Arc::new(Shared {
                level: AtomicU8::new(level::ALL),
                modules: RwLock::new(Vec::new()),
                highest: AtomicU8::new(level::ALL),
                files: None,
            }),
        }
    }

    /// Writes one record stamped with the current time; skipped when `level` is above the
    /// configured level.
    pub fn write(&self, level: u8, module: &str, context: &str, text: &str) {
        if self.enabled(level) {
            self.write_at(Utc::now(), level, module, context, text);
        }
    }

    /// Sets the level (clamped to 0..=5); every clone sees the change.
    pub fn set_level(&self, level: u8) {
        self.shared
            .level
            .store(level.min(level::ALL), Ordering::Relaxed);
        self.update_highest();
    }

    /// Replaces the per-module levels (module name, level); records of other modules keep
    /// the node's level.
    pub fn set_module_levels(&self, modules: Vec<(String, u8)>) {
        let modules = modules
            .into_iter()
            .map(|(m, l)| (m.to_ascii_uppercase(), l.min(level::ALL)))
            .collect();
        *self
            .shared
            .modules
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = modules;
        self.update_highest();
    }

    fn update_highest(&self) {
        let modules = self
            .shared
            .modules
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let highest = modules.iter().map(|(_, l)| *l).fold(self.level(), u8::max);
        self.shared.highest.store(highest, Ordering::Relaxed);
    }

    /// The level that decides about a record of `module`.
    fn level_of(&self, module: &str) -> u8 {
        let modules = self
            .shared
            .modules
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tag = module.to_ascii_uppercase();
        modules
            .iter()
            .find(|(m, _)| tag.starts_with(m.as_str()))
            .map_or_else(|| self.level(), |(_, l)| *l)
    }

    /// The configured level.
    pub fn level(&self) -> u8 {
        self.shared.level.load(Ordering::Relaxed)
    }

    /// Whether a record of `level` may be written (by some module); lets callers skip
    /// building costly text.
    pub fn enabled(&self, level: u8) -> bool {
        level <= self.shared.highest.load(Ordering::Relaxed)
    }

    /// [`SystemLog::write`] with an explicit time, so tests can cross midnight.
    fn write_at(&self, time: DateTime<Utc>, level: u8, module: &str, context: &str, text: &str) {
        if !self.enabled(level) || level > self.level_of(module) {
            return;
        }
        let line = format_line(time, level, module, context, text);
        mirror(level, &line);
        let Some(files) = &self.shared.files else {
            return;
        };
        // A panic elsewhere while holding the lock leaves `Files` consistent (at worst with no
        // open file), so a poisoned lock is safe to use.
        let mut files = files
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        files.append(time.date_naive(), &line);
    }
}

impl Files {
    fn append(&mut self, date: NaiveDate, line: &str) {
        let mut record = String::with_capacity(line.len() + 1);
        record.push_str(line);
        record.push('\n');
        let result = self.file_for(date).and_then(|(path, file)| {
            file.write_all(record.as_bytes())
                .map_err(|error| (path, error))
        });
        match result {
            Ok(()) => self.warned = false,
            Err((path, error)) => {
                // Reopen on the next record: the file may have been removed or the disk fixed.
                self.current = None;
                if !self.warned {
                    self.warned = true;
                    tracing::warn!(
                        target: "mailnode::syslog",
                        path = %path.display(),
                        %error,
                        "cannot write the system log; records are lost until it recovers"
                    );
                }
            }
        }
    }

    /// The open file for `date`, opening it (and closing the previous day's) if needed.
    fn file_for(
        &mut self,
        date: NaiveDate,
    ) -> Result<(PathBuf, &mut File), (PathBuf, std::io::Error)> {
        let path = day_path(&self.dir, date);
        let file = match self.current.take() {
            Some((open_date, file)) if open_date == date => file,
            _ => open_day(&self.dir, date).map_err(|error| (path.clone(), error))?,
        };
        let (_, file) = self.current.insert((date, file));
        Ok((path, file))
    }
}

fn day_path(dir: &Path, date: NaiveDate) -> PathBuf {
    dir.join(format!("{}.log", date.format("%Y-%m-%d")))
}

fn open_day(dir: &Path, date: NaiveDate) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(day_path(dir, date))
}

/// Sends a record to `tracing`: levels 0 and 1 → error, 2 → info, 3 → warn, 4 → debug, 5 →
/// trace. The time stamp is left to the subscriber.
fn mirror(level: u8, line: &str) {
    // Skip "HH:MM:SS.cc " and keep "LEVEL MODULE(context) text".
    let record = line.split_once(' ').map_or(line, |(_, rest)| rest);
    match level {
        level::CRASH | level::FAILURE => tracing::error!(target: "mailnode::syslog", "{record}"),
        level::MAJOR => tracing::info!(target: "mailnode::syslog", "{record}"),
        level::PROBLEM => tracing::warn!(target: "mailnode::syslog", "{record}"),
        level::LOW => tracing::debug!(target: "mailnode::syslog", "{record}"),
        _ => tracing::trace!(target: "mailnode::syslog", "{record}"),
    }
}

/// Formats one record without its line end: `HH:MM:SS.cc LEVEL MODULE(context) text`, or
/// `HH:MM:SS.cc LEVEL MODULE text` when `context` is empty. The time is UTC with centiseconds
/// (truncated); control characters are escaped so that a record stays on one line.
pub fn format_line(
    time: DateTime<Utc>,
    level: u8,
    module: &str,
    context: &str,
    text: &str,
) -> String {
    // During a leap second chrono reports 1000..=1999 ms; keep two digits.
    let centis = (time.nanosecond() / 10_000_000).min(99);
    let mut line = String::with_capacity(16 + module.len() + context.len() + text.len());
    line.push_str(&format!(
        "{:02}:{:02}:{:02}.{centis:02} {level} ",
        time.hour(),
        time.minute(),
        time.second()
    ));
    push_escaped(&mut line, module);
    if !context.is_empty() {
        line.push('(');
        push_escaped(&mut line, context);
        line.push(')');
    }
    line.push(' ');
    push_escaped(&mut line, text);
    line
}

fn push_escaped(line: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push(' '),
            c if c.is_control() => line.push_str(&c.escape_unicode().to_string()),
            c => line.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
            + chrono::Duration::milliseconds(ms as i64)
    }

    #[test]
    fn format_matches_communigate_seed() {
        let cases = [
            (
                at(2010, 1, 2, 18, 58, 8, 230),
                "QUEUE",
                "[70002]",
                "from <john.dite@compinia.de>, 493 bytes (<auto-000000070002@compinia.de>)",
                "18:58:08.23 2 QUEUE([70002]) from <john.dite@compinia.de>, 493 bytes \
                 (<auto-000000070002@compinia.de>)",
            ),
            (
                at(2010, 1, 2, 18, 58, 8, 29),
                "PIPE",
                "",
                "[70002] received in {Submitted/m11477122701520.sub}, 493 bytes",
                "18:58:08.02 2 PIPE [70002] received in {Submitted/m11477122701520.sub}, 493 bytes",
            ),
            (
                at(2010, 1, 2, 18, 58, 8, 419),
                "DEQUEUER",
                "",
                "[70002] LOCAL(postmaster) delivered: Delivered to the user mailbox",
                "18:58:08.41 2 DEQUEUER [70002] LOCAL(postmaster) delivered: Delivered to the user \
                 mailbox",
            ),
            (
                at(2010, 1, 2, 18, 58, 8, 400),
                "MAILBOX",
                "postmaster/INBOX",
                "[70002] stored as 1",
                "18:58:08.40 2 MAILBOX(postmaster/INBOX) [70002] stored as 1",
            ),
        ];
        for (time, module, context, text, expect) in cases {
            assert_eq!(
                format_line(time, level::MAJOR, module, context, text),
                expect
            );
        }
    }

    #[test]
    fn format_pads_and_escapes() {
        let line = format_line(
            at(2024, 3, 1, 1, 2, 3, 0),
            5,
            "SMTP",
            "1.2.3.4",
            "a\r\nb\u{7}",
        );
        assert_eq!(line, "01:02:03.00 5 SMTP(1.2.3.4) a\\r\\nb\\u{7}");
    }

    #[test]
    fn module_levels_override_the_node_level() {
        let dir = tempfile::tempdir().unwrap();
        let log = SystemLog::open(dir.path(), level::MAJOR).unwrap();
        let t = |s| at(2024, 6, 1, 0, 0, s, 0);
        log.set_module_levels(vec![("smtp".into(), level::ALL), ("POP".into(), 1)]);
        assert!(log.enabled(level::ALL));
        log.write_at(t(1), 5, "SMTP", "", "smtp detail");
        log.write_at(t(2), 4, "PIPE", "", "pipe detail");
        log.write_at(t(3), 2, "POP3", "", "pop major");
        log.write_at(t(4), 2, "PIPE", "", "pipe major");
        let text = std::fs::read_to_string(dir.path().join("2024-06-01.log")).unwrap();
        assert_eq!(
            text,
            "00:00:01.00 5 SMTP smtp detail\n00:00:04.00 2 PIPE pipe major\n"
        );
        log.set_module_levels(Vec::new());
        assert!(!log.enabled(level::PROBLEM));
    }

    #[test]
    fn writes_filters_and_rotates_at_utc_midnight() {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("SystemLogs/node1");
        let log = SystemLog::open(&log_dir, level::PROBLEM).unwrap();
        let clone = log.clone();
        log.write_at(at(2024, 5, 31, 23, 59, 59, 990), 2, "PIPE", "", "first");
        log.write_at(
            at(2024, 5, 31, 23, 59, 59, 995),
            4,
            "SMTP",
            "x",
            "too detailed",
        );
        clone.write_at(
            at(2024, 6, 1, 0, 0, 0, 10),
            3,
            "SMTP",
            "[1.2.3.4]",
            "second",
        );
        let may = std::fs::read_to_string(log_dir.join("2024-05-31.log")).unwrap();
        let june = std::fs::read_to_string(log_dir.join("2024-06-01.log")).unwrap();
        assert_eq!(may, "23:59:59.99 2 PIPE first\n");
        assert_eq!(june, "00:00:00.01 3 SMTP([1.2.3.4]) second\n");

        clone.set_level(level::ALL);
        assert_eq!(log.level(), level::ALL);
        assert!(log.enabled(level::ALL));
        log.write_at(at(2024, 6, 1, 0, 0, 1, 0), 5, "SMTP", "", "now visible");
        let june = std::fs::read_to_string(log_dir.join("2024-06-01.log")).unwrap();
        assert!(june.ends_with("00:00:01.00 5 SMTP now visible\n"), "{june}");

        // Back to an earlier day (clock step): appended to that day's file.
        log.write_at(at(2024, 5, 31, 23, 59, 59, 999), 1, "NODE", "", "late");
        let may = std::fs::read_to_string(log_dir.join("2024-05-31.log")).unwrap();
        assert_eq!(may.lines().count(), 2);
    }

    #[test]
    fn write_uses_todays_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = SystemLog::open(dir.path(), level::MAJOR).unwrap();
        log.write(level::MAJOR, "NODE", "", "started");
        log.write(level::PROBLEM, "NODE", "", "filtered");
        let today = Utc::now().date_naive();
        let text = std::fs::read_to_string(day_path(dir.path(), today))
            .or_else(|_| {
                // The test crossed UTC midnight between the write and the read.
                let yesterday = today.pred_opt().unwrap();
                std::fs::read_to_string(day_path(dir.path(), yesterday))
            })
            .unwrap();
        assert!(text.ends_with(" 2 NODE started\n"), "{text}");
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn io_errors_do_not_panic_and_recover() {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("logs");
        let log = SystemLog::open(&log_dir, level::ALL).unwrap();
        std::fs::remove_dir_all(&log_dir).unwrap();
        std::fs::write(&log_dir, "a file where the folder was").unwrap();
        log.write_at(at(2030, 1, 1, 0, 0, 0, 0), 2, "NODE", "", "lost");
        log.write_at(at(2030, 1, 1, 0, 0, 1, 0), 2, "NODE", "", "lost too");
        std::fs::remove_file(&log_dir).unwrap();
        std::fs::create_dir(&log_dir).unwrap();
        log.write_at(at(2030, 1, 1, 0, 0, 2, 0), 2, "NODE", "", "back");
        let text = std::fs::read_to_string(log_dir.join("2030-01-01.log")).unwrap();
        assert_eq!(text, "00:00:02.00 2 NODE back\n");
    }

    #[test]
    fn disabled_writes_no_files() {
        let log = SystemLog::disabled();
        assert!(log.enabled(level::ALL));
        log.write(level::CRASH, "NODE", "", "nowhere");
        log.set_level(9);
        assert_eq!(log.level(), level::ALL);
    }

    #[test]
    fn log_is_send_sync() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<SystemLog>();
    }
}
