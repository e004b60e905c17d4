//! Issue 7 in CI: a short chaos run (3 node processes, kill, pause,
//! restart and partition faults, a fixed seed) and a short rolling
//! restart, each judged by the chaos checker. Longer runs are for people
//! who want more confidence (chaos/README.md).
//!
//! (Here because only the `node` package's tests can name its binary.)

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chaos::run::history::FaultKind;
use chaos::run::{FaultList, RunArgs, UpgradeArgs};

fn scenario(out: &Path, faults: Vec<FaultKind>, duration: Duration) -> RunArgs {
    RunArgs {
        nodes: 3,
        duration,
        seed: Some(1),
        faults: FaultList(faults),
        out: Some(out.to_path_buf()),
        mailnode: Some(PathBuf::from(env!("CARGO_BIN_EXE_mailnode"))),
        senders: 4,
        readers: 2,
        imap_readers: 2,
        drain_secs: 120,
    }
}

/// Fails with the place of the history and report, which are kept.
fn judge(code: ExitCode, dir: tempfile::TempDir) {
    if code != ExitCode::SUCCESS {
        let kept = dir.keep();
        panic!(
            "the checker found violations; history and report in {}",
            kept.display()
        );
    }
}

/// One after the other, so that two clusters never share the two cores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_7_short_chaos_run_and_rolling_restart_find_no_violation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let faults = vec![
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Restart,
        FaultKind::Partition,
    ];
    let args = scenario(dir.path(), faults, Duration::from_secs(45));
    let code = chaos::run::run(args).await.expect("the cluster starts");
    judge(code, dir);

    let dir = tempfile::tempdir().expect("temp dir");
    let args = UpgradeArgs {
        run: scenario(dir.path(), Vec::new(), Duration::from_secs(40)),
        to: None,
    };
    let code = chaos::run::upgrade(args).await.expect("the cluster starts");
    judge(code, dir);
}
