//! The hash-chained audit log. Every state transition of a run appends an entry whose hash covers
//! its content and the previous entry's hash, so changing, removing or reordering a row breaks
//! the chain from that row on. The run row keeps the head (last seq and hash), which also catches
//! truncation of the newest entries.

use chrono::{NaiveDateTime, Timelike};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::model::AuditVerification;
use super::store::{AuditRow, RunRow};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Timestamps are hashed (and stored) at microsecond precision, which both backends keep.
pub fn audit_time(t: NaiveDateTime) -> NaiveDateTime {
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(micros).unwrap_or(t)
}

fn field(hasher: &mut Sha256, value: Option<&str>) {
    match value {
        None => hasher.update([0u8]),
        Some(v) => {
            hasher.update([1u8]);
            hasher.update((v.len() as u64).to_be_bytes());
            hasher.update(v.as_bytes());
        }
    }
}

/// The hash of one entry (length-prefixed fields, so no two contents collide by concatenation).
pub fn entry_hash(row: &AuditRow) -> String {
    let mut h = Sha256::new();
    field(&mut h, Some(&row.prev_hash));
    field(&mut h, Some(&row.run_id));
    field(&mut h, Some(&row.tenant_id));
    field(&mut h, Some(&row.seq.to_string()));
    field(
        &mut h,
        Some(&row.at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()),
    );
    field(&mut h, Some(&row.event));
    field(&mut h, row.from_status.as_deref());
    field(&mut h, row.to_status.as_deref());
    field(&mut h, row.step_id.as_deref());
    field(&mut h, Some(&row.actor));
    field(&mut h, Some(&row.detail));
    hex::encode(h.finalize())
}

/// One transition to record.
pub struct Transition<'a> {
    pub at: NaiveDateTime,
    pub event: &'a str,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub step_id: Option<&'a str>,
    pub actor: &'a str,
    pub detail: Value,
}

/// Appends an entry after the run's current head and moves the head.
pub fn append(run: &mut RunRow, t: Transition<'_>) -> AuditRow {
    let mut row = AuditRow {
        run_id: run.id.clone(),
        seq: run.audit_seq + 1,
        tenant_id: run.tenant_id.clone(),
        at: audit_time(t.at),
        event: t.event.to_string(),
        from_status: t.from.map(str::to_string),
        to_status: t.to.map(str::to_string),
        step_id: t.step_id.map(str::to_string),
        actor: t.actor.to_string(),
        detail: t.detail.to_string(),
        prev_hash: run.audit_hash.clone(),
        hash: String::new(),
    };
    row.hash = entry_hash(&row);
    run.audit_seq = row.seq;
    run.audit_hash = row.hash.clone();
    row
}

/// Checks the whole chain of a run (entries in seq order).
pub fn verify(run: &RunRow, entries: &[AuditRow]) -> AuditVerification {
    let mut prev = GENESIS.to_string();
    let fail = |seq: i64, reason: String| AuditVerification {
        run_id: run.id.clone(),
        valid: false,
        entries: entries.len() as i64,
        head_hash: run.audit_hash.clone(),
        first_invalid_seq: Some(seq),
        reason: Some(reason),
    };
    for (i, row) in entries.iter().enumerate() {
        let expected_seq = i as i64 + 1;
        if row.seq != expected_seq {
            return fail(
                expected_seq,
                format!(
                    "entry {expected_seq} is missing (found {} instead)",
                    row.seq
                ),
            );
        }
        if row.prev_hash != prev {
            return fail(
                row.seq,
                format!(
                    "entry {} does not point at the hash of entry {}",
                    row.seq,
                    row.seq - 1
                ),
            );
        }
        let computed = entry_hash(row);
        if computed != row.hash {
            return fail(
                row.seq,
                format!(
                    "entry {} was altered: its content no longer matches its hash",
                    row.seq
                ),
            );
        }
        prev = row.hash.clone();
    }
    let last_seq = entries.last().map_or(0, |r| r.seq);
    if last_seq != run.audit_seq || prev != run.audit_hash {
        return fail(
            last_seq + 1,
            format!(
                "the chain ends at entry {last_seq} but the run records {} entries ending in {}",
                run.audit_seq,
                &run.audit_hash[..run.audit_hash.len().min(12)]
            ),
        );
    }
    AuditVerification {
        run_id: run.id.clone(),
        valid: true,
        entries: entries.len() as i64,
        head_hash: run.audit_hash.clone(),
        first_invalid_seq: None,
        reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunRow {
        RunRow::sample("r1", "w", chrono::Utc::now().naive_utc())
    }

    fn entry<'a>(event: &'a str) -> Transition<'a> {
        Transition {
            at: chrono::Utc::now().naive_utc(),
            event,
            from: Some("a"),
            to: Some("b"),
            step_id: None,
            actor: "me",
            detail: serde_json::json!({"k": 1}),
        }
    }

    #[test]
    fn an_untouched_chain_verifies_and_any_change_is_detected() {
        let mut r = run();
        let rows: Vec<AuditRow> = ["run.created", "run.started", "run.succeeded"]
            .into_iter()
            .map(|e| append(&mut r, entry(e)))
            .collect();
        assert!(verify(&r, &rows).valid);

        let mut altered = rows.clone();
        altered[1].detail = "{\"k\":2}".into();
        let v = verify(&r, &altered);
        assert!(!v.valid);
        assert_eq!(v.first_invalid_seq, Some(2));

        // Recomputing the altered row's own hash still breaks the link to the next one.
        altered[1].hash = entry_hash(&altered[1]);
        assert_eq!(verify(&r, &altered).first_invalid_seq, Some(3));

        let mut removed = rows.clone();
        removed.remove(1);
        assert!(!verify(&r, &removed).valid);

        let truncated = rows[..2].to_vec();
        assert!(!verify(&r, &truncated).valid);
    }
}
