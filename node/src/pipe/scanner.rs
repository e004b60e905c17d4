//! The PIPE module's scanner: picks up `Submitted/*.sub` files.
//!
//! Every quarter second the folder is listed; each `.sub` file is parsed
//! (see `envelope`), enqueued, and deleted only after the queue entry is
//! committed, so a crash in between re-submits the file rather than losing
//! it (delivery dedupes by queue id, and a re-submitted file gets a new id:
//! this window can duplicate, never lose). A file that cannot be parsed is
//! renamed to `.bad` with a log record (reference §3.4). Writers compose
//! under another name and rename to `.sub` when complete.

use std::path::{Path, PathBuf};
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, WrapFuture};

use crate::enqueuer::{Enqueuer, Submit};
use crate::pipe::envelope::parse_submission;
use crate::syslog::{SystemLog, level};

/// How often the folder is scanned: "within a second" of a drop.
const SCAN_INTERVAL: Duration = Duration::from_millis(250);

/// The scanner actor.
pub struct PipeScanner {
    dir: PathBuf,
    enqueuer: actix::Addr<Enqueuer>,
    log: SystemLog,
    scanning: bool,
}

impl PipeScanner {
    /// Scans `dir` (the base directory's `Submitted/`).
    pub fn new(dir: PathBuf, enqueuer: actix::Addr<Enqueuer>, log: SystemLog) -> PipeScanner {
        PipeScanner {
            dir,
            enqueuer,
            log,
            scanning: false,
        }
    }

    fn scan(&mut self, ctx: &mut Context<Self>) {
        if self.scanning {
            return;
        }
        self.scanning = true;
        let dir = self.dir.clone();
        let enqueuer = self.enqueuer.clone();
        let log = self.log.clone();
        let work = async move {
            let files = match tokio::task::spawn_blocking(move || list_sub_files(&dir)).await {
                Ok(Ok(files)) => files,
                Ok(Err(e)) => {
                    log.write(
                        level::PROBLEM,
                        "PIPE",
                        "",
                        &format!("cannot list Submitted: {e}"),
                    );
                    return;
                }
                Err(_) => return,
            };
            for file in files {
                submit_file(&file, &enqueuer, &log).await;
            }
        };
        ctx.spawn(work.into_actor(self).map(|(), act, _| act.scanning = false));
    }
}

impl Actor for PipeScanner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(SCAN_INTERVAL, |act, ctx| act.scan(ctx));
    }
}

fn list_sub_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sub"))
        .collect();
    files.sort();
    Ok(files)
}

/// The name as CommuniGate logs it: `Submitted/NAME`.
fn display_name(file: &Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    format!("Submitted/{name}")
}

async fn submit_file(file: &Path, enqueuer: &actix::Addr<Enqueuer>, log: &SystemLog) {
    let shown = display_name(file);
    let bytes = match tokio::fs::read(file).await {
        Ok(b) => b,
        // Gone already (another scan, or the writer renamed it away).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            log.write(
                level::PROBLEM,
                "PIPE",
                "",
                &format!("cannot read {{{shown}}}: {e}"),
            );
            return;
        }
    };
    let submission = match parse_submission(&bytes, None) {
        Ok(s) => s,
        Err(e) => {
            let bad = file.with_extension("bad");
            let renamed = tokio::fs::rename(file, &bad).await;
            log.write(
                level::FAILURE,
                "PIPE",
                "",
                &format!(
                    "{{{shown}}} rejected: {e}; renamed to .bad{}",
                    renamed
                        .err()
                        .map(|e| format!(" (rename failed: {e})"))
                        .unwrap_or_default()
                ),
            );
            return;
        }
    };
    let size = bytes.len();
    let submit = Submit {
        return_path: submission.return_path.unwrap_or_default(),
        recipients: submission.recipients,
        body: submission.message,
        source: "PIPE",
        dsn: Default::default(),
    };
    match enqueuer.send(submit).await {
        Ok(Ok(id)) => {
            log.write(
                level::MAJOR,
                "PIPE",
                "",
                &format!("[{id}] received in {{{shown}}}, {size} bytes"),
            );
            if let Err(e) = remove_durably(file).await {
                log.write(
                    level::FAILURE,
                    "PIPE",
                    "",
                    &format!("[{id}] cannot delete {{{shown}}}: {e}"),
                );
            }
        }
        Ok(Err(e)) => {
            // Left in place: the next scan tries again.
            log.write(
                level::PROBLEM,
                "PIPE",
                "",
                &format!("{{{shown}}} not enqueued: {e}"),
            );
        }
        Err(e) => log.write(
            level::PROBLEM,
            "PIPE",
            "",
            &format!("{{{shown}}} not enqueued: {e}"),
        ),
    }
}

/// Deletes a file and syncs its folder, so a crash does not bring it back
/// to be submitted a second time.
async fn remove_durably(file: &Path) -> std::io::Result<()> {
    let file = file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::remove_file(&file)?;
        if let Some(dir) = file.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}
