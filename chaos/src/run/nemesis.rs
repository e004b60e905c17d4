//! The nemesis: a fault schedule derived from the seed, executed one fault at a time (so a
//! minority, one node, is faulted at any moment), each fault healed before the next.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use tokio::sync::Mutex;
use tokio::time::{Instant, sleep, sleep_until};

use super::cluster::{Cluster, StillStarting};
use super::history::{FaultKind, Op, Outcome};
use super::workload::Ctx;

/// One planned fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Earliest start, from the start of the workload.
    pub at: Duration,
    /// What to do.
    pub kind: FaultKind,
    /// Which node (1-based).
    pub node: usize,
    /// How long the node stays down or stopped.
    pub hold: Duration,
    /// For a partition: the minority cut from the others (contains `node`).
    pub minority: Vec<usize>,
    /// For a clock or disk fault: what the node's `faults` file says meanwhile.
    pub faults_file: String,
}

/// Quiet time at the start of the run, before the first fault.
const WARMUP: Duration = Duration::from_secs(5);

/// Derives the schedule from `rng`: faults of the enabled kinds on random nodes, with random
/// holds and gaps, all starting before `duration` minus a few seconds.
pub fn plan(
    rng: &mut StdRng,
    kinds: &[FaultKind],
    nodes: usize,
    duration: Duration,
) -> Vec<Planned> {
    let mut out = Vec::new();
    if kinds.is_empty() || nodes == 0 {
        return out;
    }
    let mut at = WARMUP;
    let end = duration.saturating_sub(Duration::from_secs(5));
    // Every enabled kind once first (in a seeded order), so a short run covers them all.
    let mut first: Vec<FaultKind> = kinds.to_vec();
    first.shuffle(rng);
    first.reverse();
    while at < end {
        let kind = first
            .pop()
            .unwrap_or_else(|| kinds[rng.gen_range(0..kinds.len())]);
        let node = rng.gen_range(1..=nodes);
        let hold_ms = match kind.action() {
            FaultKind::Kill => rng.gen_range(1_000..6_000),
            // Sometimes past the 10 s lease TTL: the node wakes up believing it holds leases.
            FaultKind::Pause => rng.gen_range(2_000..14_000),
            FaultKind::Restart | FaultKind::Upgrade => rng.gen_range(200..2_000),
            // Past the lease TTL at times, so a cut-off holder's leases must move.
            FaultKind::Partition => rng.gen_range(3_000..15_000),
            // Across lease and claim renewals, so skewed grants are judged.
            FaultKind::Clock => rng.gen_range(5_000..15_000),
            // Past the delivery retry and a few client timeouts.
            _ => rng.gen_range(3_000..10_000),
        };
        let faults_file = match kind {
            // Within the 2 s the cluster assumes clocks agree to
            // (`cluster::accounts::CLOCK_SKEW_MARGIN`), either way.
            FaultKind::Clock => {
                let skew: i64 = rng.gen_range(300..1_800);
                let sign = if rng.gen_bool(0.5) { -1 } else { 1 };
                format!("clock_offset_ms = {}\n", sign * skew)
            }
            FaultKind::Disk if rng.gen_bool(0.5) => "disk = \"fail\"\n".to_owned(),
            FaultKind::Disk => format!(
                "disk = \"slow\"\ndisk_delay_ms = {}\n",
                rng.gen_range(100..800)
            ),
            _ => String::new(),
        };
        let hold = Duration::from_millis(hold_ms);
        let mut minority = Vec::new();
        if kind.action() == FaultKind::Partition && nodes >= 3 {
            let size = rng.gen_range(1..=(nodes - 1) / 2);
            minority.push(node);
            while minority.len() < size {
                let other = rng.gen_range(1..=nodes);
                if !minority.contains(&other) {
                    minority.push(other);
                }
            }
            minority.sort_unstable();
        } else if kind.action() == FaultKind::Partition {
            // Fewer than 3 nodes have no majority to keep serving; nothing to cut.
            at += Duration::from_secs(1);
            continue;
        }
        out.push(Planned {
            at,
            kind,
            node,
            hold,
            minority,
            faults_file,
        });
        // Estimated time to restart plus a gap; the executor waits for real readiness anyway.
        at += hold + Duration::from_millis(rng.gen_range(3_000..8_000));
    }
    out
}

/// A rolling upgrade: every node in turn (1, 2, ...) is stopped gracefully, held down for a
/// second and started again (with the new binary, if any), evenly spread over `duration`.
pub fn rolling(nodes: usize, duration: Duration) -> Vec<Planned> {
    let span = duration.saturating_sub(WARMUP + Duration::from_secs(5));
    let step = span / u32::try_from(nodes.max(1)).unwrap_or(1);
    (1..=nodes)
        .map(|node| Planned {
            at: WARMUP + step * u32::try_from(node - 1).unwrap_or(0),
            kind: FaultKind::Upgrade,
            node,
            hold: Duration::from_secs(1),
            minority: Vec::new(),
            faults_file: String::new(),
        })
        .collect()
}

/// Executes `plan` against `cluster`, recording each fault from injection to recovery.
/// Problems (a node that does not come back) are recorded as failed faults and returned.
pub async fn run(
    ctx: Arc<Ctx>,
    cluster: Arc<Mutex<Cluster>>,
    plan: Vec<Planned>,
    begin: Instant,
) -> Vec<String> {
    let mut problems = Vec::new();
    for mut p in plan {
        let when = begin + p.at;
        if when >= ctx.deadline {
            break;
        }
        sleep_until(when).await;
        let mut guard = cluster.lock().await;
        // One fault at a time: a member still starting after the last one
        // counts as faulted, so the next waits until every member serves.
        let not_serving = guard.wait_all_ready().await;
        if !not_serving.is_empty() {
            // Not injected, so not in the history; said on stdout.
            for (node, e) in not_serving {
                let text = format!("{} skipped: node{node}: {e:#}", p.kind.name());
                println!("nemesis      {text}");
                if e.downcast_ref::<StillStarting>().is_none() {
                    problems.push(text);
                }
            }
            continue;
        }
        let start = ctx.history.now_ms();
        let unaimed = (p.kind.at_leader() && !aim_at_leader(&guard, &mut p).await)
            .then(|| format!("no member named the leader; faulted node{}", p.node));
        let mailnode = if p.kind == FaultKind::Upgrade {
            guard
                .upgrade_to
                .clone()
                .unwrap_or_else(|| guard.mailnode.clone())
        } else {
            guard.mailnode.clone()
        };
        let net = guard.net.clone();
        let mut cut_ms = None;
        let member = &mut guard.members[p.node - 1];
        let result: anyhow::Result<Option<String>> = async {
            match p.kind.action() {
                FaultKind::Kill => {
                    member.kill().await?;
                    sleep(p.hold).await;
                    member.start(&mailnode).await?;
                    Ok(None)
                }
                FaultKind::Pause => {
                    member.pause()?;
                    sleep(p.hold).await;
                    member.resume()?;
                    Ok(None)
                }
                FaultKind::Partition => {
                    net.partition(&p.minority);
                    cut_ms = Some(ctx.history.now_ms());
                    sleep(p.hold).await;
                    net.heal();
                    Ok(None)
                }
                FaultKind::Clock | FaultKind::Disk => {
                    member.set_faults(&p.faults_file)?;
                    sleep(p.hold).await;
                    member.set_faults("")?;
                    Ok(None)
                }
                _ => {
                    let graceful = member.terminate().await?;
                    sleep(p.hold).await;
                    member.start(&mailnode).await?;
                    Ok((!graceful).then(|| {
                        format!(
                            "node{} ignored SIGTERM for {:?}; killed",
                            p.node,
                            super::cluster::TERM_TIMEOUT
                        )
                    }))
                }
            }
        }
        .await;
        let (outcome, error) = match result {
            Ok(note) => (Outcome::Ok, note.or(unaimed)),
            Err(e) => {
                let text = format!("{} on node{}: {e:#}", p.kind.name(), p.node);
                // A member that waits for the cluster to come back is
                // unavailable, not broken: the heal waits for it and
                // check 6 judges it then.
                if e.downcast_ref::<StillStarting>().is_none() {
                    problems.push(text.clone());
                }
                // Try once more to bring the node back, so later faults stay a minority.
                if !member.is_running() {
                    let _ = member.start(&mailnode).await;
                }
                (Outcome::Failed, Some(text))
            }
        };
        drop(guard);
        ctx.history.record(
            "nemesis",
            p.node,
            start,
            outcome,
            error,
            Op::Fault {
                kind: p.kind,
                hold_ms: u64::try_from(p.hold.as_millis()).unwrap_or(u64::MAX),
                minority: p.minority,
                cut_ms,
            },
        );
    }
    problems
}

/// Points `p` at the member that leads now (its partition minority too),
/// as the running members' CLI says (`GetCurrentController` answers the
/// leader's cluster address); keeps the planned node, and returns false, if
/// none can say.
async fn aim_at_leader(cluster: &Cluster, p: &mut Planned) -> bool {
    for member in cluster.members.iter().filter(|m| m.is_running()) {
        let Ok(reply) =
            super::workload::cli_command(member.addrs.cli, "GetCurrentController").await
        else {
            continue;
        };
        let leader = cluster
            .members
            .iter()
            .find(|m| reply.is_ok() && reply.text.contains(&m.addrs.cluster.to_string()));
        if let Some(leader) = leader {
            if !p.minority.contains(&leader.index) {
                for n in p.minority.iter_mut().filter(|n| **n == p.node) {
                    *n = leader.index;
                }
                p.minority.sort_unstable();
            }
            p.node = leader.index;
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn plan_is_a_function_of_the_seed() {
        let kinds = [
            FaultKind::Kill,
            FaultKind::Pause,
            FaultKind::Restart,
            FaultKind::Partition,
        ];
        let a = plan(
            &mut StdRng::seed_from_u64(7),
            &kinds,
            3,
            Duration::from_secs(60),
        );
        let b = plan(
            &mut StdRng::seed_from_u64(7),
            &kinds,
            3,
            Duration::from_secs(60),
        );
        assert_eq!(a, b);
        assert!(!a.is_empty());
        assert!(a.iter().all(|p| (1..=3).contains(&p.node)));
        assert!(a.windows(2).all(|w| w[0].at + w[0].hold < w[1].at));
    }

    #[test]
    fn clock_skews_stay_within_the_margin_and_disk_faults_are_slow_or_failing() {
        let planned = plan(
            &mut StdRng::seed_from_u64(5),
            &[FaultKind::Clock, FaultKind::Disk, FaultKind::KillLeader],
            3,
            Duration::from_secs(600),
        );
        let clock: Vec<i64> = planned
            .iter()
            .filter(|p| p.kind == FaultKind::Clock)
            .map(|p| {
                let value = p.faults_file.trim().strip_prefix("clock_offset_ms = ");
                value.and_then(|v| v.parse().ok()).expect("an offset")
            })
            .collect();
        assert!(!clock.is_empty());
        assert!(clock.iter().all(|ms| (300..1_800).contains(&ms.abs())));
        let disk: Vec<&str> = planned
            .iter()
            .filter(|p| p.kind == FaultKind::Disk)
            .map(|p| p.faults_file.as_str())
            .collect();
        assert!(disk.iter().any(|f| f.contains("\"fail\"")));
        assert!(disk.iter().any(|f| f.contains("\"slow\"")));
        assert!(
            planned
                .iter()
                .filter(|p| p.kind == FaultKind::KillLeader)
                .all(|p| p.faults_file.is_empty())
        );
    }

    #[test]
    fn no_kinds_no_faults() {
        assert!(
            plan(
                &mut StdRng::seed_from_u64(1),
                &[],
                3,
                Duration::from_secs(60)
            )
            .is_empty()
        );
    }
}
