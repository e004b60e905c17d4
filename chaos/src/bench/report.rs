//! Benchmark figures: percentiles, rates, and the human and JSON renderings of a run.
//!
//! The JSON line is the stable interface for scripts; the human summary may change.

use std::fmt::Write as _;
use std::time::Duration;

/// Delivery figures, measured by watching the recipients' maildrops over POP3.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Accepted messages seen in the maildrops.
    pub delivered: u64,
    /// Whether every accepted message was seen before the deadline.
    pub complete: bool,
    /// From the start of sending to the last time a new delivery was seen.
    pub elapsed: Duration,
}

/// Figures of one SMTP benchmark run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Messages attempted.
    pub messages: u64,
    /// Messages answered `250` after DATA.
    pub accepted: u64,
    /// Messages that got any other reply or a connection error.
    pub failed: u64,
    /// Duration of the sending phase.
    pub elapsed: Duration,
    /// Median latency of an accepted message's transaction.
    pub p50: Option<Duration>,
    /// 99th percentile latency of an accepted message's transaction.
    pub p99: Option<Duration>,
    /// Delivery figures, when POP3 was watched.
    pub delivery: Option<Delivery>,
}

/// `count / elapsed`, or 0 when no time passed.
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// Nearest-rank percentile `p` (0..=100) of `sorted`, which must be in ascending order.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn json_num(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        _ => "null".to_owned(),
    }
}

impl Report {
    /// Accepted messages per second of the sending phase.
    pub fn accepted_per_sec(&self) -> f64 {
        rate(self.accepted, self.elapsed)
    }

    /// Whether the run counts as a success: nothing failed and, if watched, everything was
    /// delivered.
    pub fn is_success(&self) -> bool {
        self.failed == 0 && self.delivery.as_ref().is_none_or(|d| d.complete)
    }

    /// The sending-phase part of the human summary.
    pub fn sending_summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "accepted     {}", self.accepted);
        let _ = writeln!(s, "failed       {}", self.failed);
        let _ = writeln!(s, "elapsed      {:.3} s", self.elapsed.as_secs_f64());
        let _ = writeln!(s, "accepted/s   {:.1}", self.accepted_per_sec());
        if let (Some(p50), Some(p99)) = (self.p50, self.p99) {
            let _ = writeln!(
                s,
                "latency      p50 {:.2} ms  p99 {:.2} ms",
                ms(p50),
                ms(p99)
            );
        }
        s
    }

    /// The delivery part of the human summary, if delivery was watched.
    pub fn delivery_summary(&self) -> Option<String> {
        let d = self.delivery.as_ref()?;
        let state = if d.complete { "" } else { " (INCOMPLETE)" };
        Some(format!(
            "delivered    {} of {}{state} after {:.3} s: {:.1} msg/s accepted-to-delivered\n",
            d.delivered,
            self.accepted,
            d.elapsed.as_secs_f64(),
            rate(d.delivered, d.elapsed),
        ))
    }

    /// The one-line JSON rendering. Unmeasured figures are `null`.
    pub fn json(&self) -> String {
        format!(
            concat!(
                r#"{{"bench":"smtp","messages":{},"accepted":{},"failed":{},"#,
                r#""elapsed_secs":{},"accepted_per_sec":{},"delivered":{},"#,
                r#""delivered_per_sec":{},"p50_ms":{},"p99_ms":{}}}"#
            ),
            self.messages,
            self.accepted,
            self.failed,
            json_num(Some(self.elapsed.as_secs_f64())),
            json_num(Some(self.accepted_per_sec())),
            self.delivery
                .as_ref()
                .map_or_else(|| "null".to_owned(), |d| d.delivered.to_string()),
            json_num(self.delivery.as_ref().map(|d| rate(d.delivered, d.elapsed))),
            json_num(self.p50.map(ms)),
            json_num(self.p99.map(ms)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let sorted = millis(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&sorted, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&sorted, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&sorted, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&sorted, 0.0), Some(Duration::from_millis(1)));
        assert_eq!(
            percentile(&millis(&[7]), 99.0),
            Some(Duration::from_millis(7))
        );
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn json_line() {
        let report = Report {
            messages: 10,
            accepted: 8,
            failed: 2,
            elapsed: Duration::from_secs(2),
            p50: Some(Duration::from_micros(1500)),
            p99: Some(Duration::from_millis(9)),
            delivery: Some(Delivery {
                delivered: 8,
                complete: true,
                elapsed: Duration::from_secs(4),
            }),
        };
        assert_eq!(
            report.json(),
            r#"{"bench":"smtp","messages":10,"accepted":8,"failed":2,"elapsed_secs":2.000,"accepted_per_sec":4.000,"delivered":8,"delivered_per_sec":2.000,"p50_ms":1.500,"p99_ms":9.000}"#
        );
        assert!(!report.is_success());
    }

    #[test]
    fn json_without_pop3_or_latencies_uses_null() {
        let report = Report {
            messages: 0,
            accepted: 0,
            failed: 0,
            elapsed: Duration::ZERO,
            p50: None,
            p99: None,
            delivery: None,
        };
        assert_eq!(
            report.json(),
            r#"{"bench":"smtp","messages":0,"accepted":0,"failed":0,"elapsed_secs":0.000,"accepted_per_sec":0.000,"delivered":null,"delivered_per_sec":null,"p50_ms":null,"p99_ms":null}"#
        );
        assert!(report.is_success());
    }
}
