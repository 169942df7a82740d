//! The few statements that differ per backend: batch claims (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL; SQLite has a single writer), row locks on runs, the effect upsert, write
//! transactions (SQLite `BEGIN IMMEDIATE`, so writers queue instead of failing on lock upgrade)
//! and the cross-replica wake-up (`pg_notify`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::QueryResult;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::schema::*;
use super::store::{EffectRow, RunRow, StepRunRow};
use crate::platform::db::DbConnection;

/// Multi-row insert: one statement per 500 rows on PostgreSQL; row by row on SQLite (in-process
/// calls, and diesel's multi-backend connection has no portable batch insert).
macro_rules! insert_many {
    ($conn:expr, $table:expr, $rows:expr) => {{
        use diesel::RunQueryDsl as _;
        let rows = $rows;
        let result: diesel::QueryResult<()> = match $conn {
            $crate::platform::db::DbConnection::Postgres(c) => {
                let mut r = Ok(());
                for chunk in rows.chunks(500) {
                    if let Err(e) = diesel::insert_into($table).values(chunk).execute(c) {
                        r = Err(e);
                        break;
                    }
                }
                r
            }
            $crate::platform::db::DbConnection::Sqlite(c) => {
                let mut r = Ok(());
                for row in rows {
                    if let Err(e) = diesel::insert_into($table).values(row).execute(c) {
                        r = Err(e);
                        break;
                    }
                }
                r
            }
        };
        result
    }};
}
pub(super) use insert_many;

/// A queue row this process just leased.
#[derive(Debug, Clone, QueryableByName)]
pub struct ClaimedRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub run_id: String,
    #[diesel(sql_type = Text)]
    pub step_id: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Timestamp)]
    pub ready_at: NaiveDateTime,
}

const CLAIM_PG: &str = "UPDATE workflow_queue SET lease_owner = $1, lease_token = $2, lease_until = $3 \
     WHERE id IN (SELECT id FROM workflow_queue \
                  WHERE NOT held AND ready_at <= $4 AND (lease_until IS NULL OR lease_until < $4) \
                  ORDER BY ready_at LIMIT $5 FOR UPDATE SKIP LOCKED) \
     RETURNING id, run_id, step_id, kind, ready_at";

const CLAIM_SQLITE: &str = "UPDATE workflow_queue SET lease_owner = ?, lease_token = ?, lease_until = ? \
     WHERE id IN (SELECT id FROM workflow_queue \
                  WHERE held = 0 AND ready_at <= ? AND (lease_until IS NULL OR lease_until < ?) \
                  ORDER BY ready_at LIMIT ?) \
     RETURNING id, run_id, step_id, kind, ready_at";

/// Leases up to `limit` due queue rows (ready, not held, unleased or with an expired lease).
/// On PostgreSQL, rows another replica is claiming at the same moment are skipped, never waited
/// for or claimed twice.
pub fn claim(
    conn: &mut DbConnection,
    owner: &str,
    token: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<ClaimedRow>> {
    match conn {
        DbConnection::Postgres(c) => diesel::sql_query(CLAIM_PG)
            .bind::<Text, _>(owner)
            .bind::<Text, _>(token)
            .bind::<Timestamp, _>(lease_until)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load(c),
        DbConnection::Sqlite(c) => diesel::sql_query(CLAIM_SQLITE)
            .bind::<Text, _>(owner)
            .bind::<Text, _>(token)
            .bind::<Timestamp, _>(lease_until)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load(c),
    }
}

/// Loads and locks runs (in id order, so two transactions never wait on each other in a cycle).
/// Completing sibling steps of one run therefore serializes, which is what makes the fan-in
/// ("are all needs done?") decision see every sibling's result.
///
/// With `skip_locked`, runs another transaction holds are left out instead of waited for: the
/// claim transaction takes queue-row locks first, so waiting there for a run lock could close a
/// cycle with a transaction that holds the run and deletes its queue rows.
pub fn lock_runs(
    conn: &mut DbConnection,
    ids: &[String],
    skip_locked: bool,
) -> QueryResult<Vec<RunRow>> {
    match conn {
        DbConnection::Postgres(c) if skip_locked => workflow_runs::table
            .filter(workflow_runs::id.eq_any(ids))
            .order(workflow_runs::id.asc())
            .for_update()
            .skip_locked()
            .select(RunRow::as_select())
            .load(c),
        DbConnection::Postgres(c) => workflow_runs::table
            .filter(workflow_runs::id.eq_any(ids))
            .order(workflow_runs::id.asc())
            .for_update()
            .select(RunRow::as_select())
            .load(c),
        // The write transaction already holds SQLite's only write lock.
        DbConnection::Sqlite(c) => workflow_runs::table
            .filter(workflow_runs::id.eq_any(ids))
            .order(workflow_runs::id.asc())
            .select(RunRow::as_select())
            .load(c),
    }
}

#[derive(QueryableByName)]
struct Fenced {
    #[diesel(sql_type = Text)]
    run_id: String,
    #[diesel(sql_type = Text)]
    step_id: String,
}

/// Deletes the queue rows of finished executions whose lease token still matches (the fence),
/// in one statement on PostgreSQL; returns the (run, step) pairs that passed.
pub fn fence_many(
    conn: &mut DbConnection,
    items: &[(String, String, String)],
) -> QueryResult<std::collections::HashSet<(String, String)>> {
    use diesel::sql_types::Array;
    let mut passed = std::collections::HashSet::new();
    if items.is_empty() {
        return Ok(passed);
    }
    match conn {
        DbConnection::Postgres(c) => {
            let runs: Vec<&str> = items.iter().map(|i| i.0.as_str()).collect();
            let steps: Vec<&str> = items.iter().map(|i| i.1.as_str()).collect();
            let tokens: Vec<&str> = items.iter().map(|i| i.2.as_str()).collect();
            let rows: Vec<Fenced> = diesel::sql_query(
                "DELETE FROM workflow_queue q USING unnest($1::text[], $2::text[], $3::text[]) AS x(r, s, t) \
                 WHERE q.run_id = x.r AND q.step_id = x.s AND q.kind = 'step' AND q.lease_token = x.t \
                 RETURNING q.run_id, q.step_id",
            )
            .bind::<Array<Text>, _>(runs)
            .bind::<Array<Text>, _>(steps)
            .bind::<Array<Text>, _>(tokens)
            .load(c)?;
            passed.extend(rows.into_iter().map(|r| (r.run_id, r.step_id)));
        }
        DbConnection::Sqlite(c) => {
            use workflow_queue::dsl as q;
            for (run, step, token) in items {
                let n = diesel::delete(
                    q::workflow_queue
                        .filter(q::run_id.eq(run))
                        .filter(q::step_id.eq(step))
                        .filter(q::kind.eq("step"))
                        .filter(q::lease_token.eq(token)),
                )
                .execute(c)?;
                if n == 1 {
                    passed.insert((run.clone(), step.clone()));
                }
            }
        }
    }
    Ok(passed)
}

/// Writes changed step rows: one `INSERT … ON CONFLICT DO UPDATE` per 500 rows on PostgreSQL
/// (the rows exist, so every row takes the update path), row by row on SQLite.
pub fn save_step_runs(conn: &mut DbConnection, rows: &[&StepRunRow]) -> QueryResult<()> {
    use diesel::upsert::excluded;
    use workflow_step_runs::dsl as s;
    if rows.is_empty() {
        return Ok(());
    }
    match conn {
        DbConnection::Postgres(c) => {
            for chunk in rows.chunks(500) {
                diesel::insert_into(s::workflow_step_runs)
                    .values(chunk.to_vec())
                    .on_conflict((s::run_id, s::step_id))
                    .do_update()
                    .set((
                        s::status.eq(excluded(s::status)),
                        s::attempts.eq(excluded(s::attempts)),
                        s::budget_start.eq(excluded(s::budget_start)),
                        s::inputs.eq(excluded(s::inputs)),
                        s::outputs.eq(excluded(s::outputs)),
                        s::error.eq(excluded(s::error)),
                        s::attempt_log.eq(excluded(s::attempt_log)),
                        s::wake_at.eq(excluded(s::wake_at)),
                        s::started_at.eq(excluded(s::started_at)),
                        s::finished_at.eq(excluded(s::finished_at)),
                    ))
                    .execute(c)?;
            }
        }
        DbConnection::Sqlite(c) => {
            for row in rows {
                diesel::update(s::workflow_step_runs.find((&row.run_id, &row.step_id)))
                    .set(*row)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// Writes changed runs, batched like [`save_step_runs`].
pub fn save_runs(conn: &mut DbConnection, rows: &[&RunRow]) -> QueryResult<()> {
    use diesel::upsert::excluded;
    use workflow_runs::dsl as r;
    if rows.is_empty() {
        return Ok(());
    }
    match conn {
        DbConnection::Postgres(c) => {
            for chunk in rows.chunks(500) {
                diesel::insert_into(r::workflow_runs)
                    .values(chunk.to_vec())
                    .on_conflict(r::id)
                    .do_update()
                    .set((
                        r::status.eq(excluded(r::status)),
                        r::pause_reason.eq(excluded(r::pause_reason)),
                        r::outputs.eq(excluded(r::outputs)),
                        r::error.eq(excluded(r::error)),
                        r::failed_step.eq(excluded(r::failed_step)),
                        r::started_at.eq(excluded(r::started_at)),
                        r::finished_at.eq(excluded(r::finished_at)),
                        r::deadline_at.eq(excluded(r::deadline_at)),
                        r::updated_at.eq(excluded(r::updated_at)),
                        r::audit_seq.eq(excluded(r::audit_seq)),
                        r::audit_hash.eq(excluded(r::audit_hash)),
                    ))
                    .execute(c)?;
            }
        }
        DbConnection::Sqlite(c) => {
            for row in rows {
                diesel::update(r::workflow_runs.find(&row.id))
                    .set(*row)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// Records effects; a (run, step) seen before increments `executions` instead of failing, so a
/// duplicate execution is counted rather than hidden.
pub fn upsert_effects(conn: &mut DbConnection, rows: &[EffectRow]) -> QueryResult<()> {
    use workflow_effects::dsl as e;
    if rows.is_empty() {
        return Ok(());
    }
    match conn {
        DbConnection::Postgres(c) => {
            for chunk in rows.chunks(500) {
                diesel::insert_into(e::workflow_effects)
                    .values(chunk)
                    .on_conflict((e::run_id, e::step_id))
                    .do_update()
                    .set(e::executions.eq(e::executions + 1))
                    .execute(c)?;
            }
        }
        DbConnection::Sqlite(c) => {
            for row in rows {
                diesel::insert_into(e::workflow_effects)
                    .values(row)
                    .on_conflict((e::run_id, e::step_id))
                    .do_update()
                    .set(e::executions.eq(e::executions + 1))
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// Asks every replica listening on `channel` to look for work (sent when the transaction
/// commits). SQLite has one engine, woken in-process.
pub fn notify(conn: &mut DbConnection, channel: &str) -> QueryResult<()> {
    match conn {
        DbConnection::Postgres(c) => diesel::sql_query("SELECT pg_notify($1, '')")
            .bind::<Text, _>(channel)
            .execute(c)
            .map(|_| ()),
        DbConnection::Sqlite(_) => Ok(()),
    }
}

#[derive(QueryableByName)]
struct SchemaName {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The schema this deployment's tables live in (PostgreSQL), to make the NOTIFY channel unique
/// per deployment: channel names are global to the database.
pub fn current_schema(conn: &mut DbConnection) -> QueryResult<Option<String>> {
    match conn {
        DbConnection::Postgres(c) => diesel::sql_query("SELECT current_schema() AS name")
            .get_result::<SchemaName>(c)
            .map(|r| Some(r.name)),
        DbConnection::Sqlite(_) => Ok(None),
    }
}

/// The platform's write transaction (`BEGIN IMMEDIATE` on SQLite).
pub use crate::platform::db::write_transaction as write_tx;

#[cfg(test)]
mod tests {
    //! Both arms run here against SQLite; the PostgreSQL arm runs when
    //! `MAESTRO_TEST_DATABASE_URL` is set (each test in its own schema).
    use super::*;
    use crate::platform::db::migrate;
    use diesel::connection::SimpleConnection;

    fn sqlite() -> (tempfile::TempDir, DbConnection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut c = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        c.batch_execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;")
            .unwrap();
        let mut conn = DbConnection::Sqlite(c);
        migrate::run_pending(&mut conn).unwrap();
        (dir, conn)
    }

    struct PgSchema {
        admin: String,
        name: String,
    }
    impl Drop for PgSchema {
        fn drop(&mut self) {
            if let Ok(mut c) = diesel::PgConnection::establish(&self.admin) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
            }
        }
    }

    fn postgres() -> Option<(PgSchema, DbConnection, DbConnection)> {
        let admin = std::env::var("MAESTRO_TEST_DATABASE_URL").ok()?;
        let name = format!("d_{}", uuid::Uuid::new_v4().simple());
        let mut c = diesel::PgConnection::establish(&admin).unwrap();
        c.batch_execute(&format!("CREATE SCHEMA {name}")).unwrap();
        let sep = if admin.contains('?') { '&' } else { '?' };
        let url = format!("{admin}{sep}options=-c%20search_path%3D{name}");
        let mut a = DbConnection::Postgres(diesel::PgConnection::establish(&url).unwrap());
        migrate::run_pending(&mut a).unwrap();
        let b = DbConnection::Postgres(diesel::PgConnection::establish(&url).unwrap());
        Some((PgSchema { admin, name }, a, b))
    }

    fn seed(conn: &mut DbConnection, n: usize) {
        let now = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1);
        conn.batch_execute("INSERT INTO workflow_definitions VALUES ('w','t','w',1,FALSE,'me','2026-01-01 00:00:00','2026-01-01 00:00:00')").unwrap();
        for i in 0..n {
            let run = format!("r{i:03}");
            conn.batch_execute(&format!(
                "INSERT INTO workflow_runs (id, tenant_id, workflow_id, version, status, inputs, actor, request_hash, created_at, updated_at, audit_seq, audit_hash) \
                 VALUES ('{run}','t','w',1,'running','{{}}','{{}}','', '2026-01-01 00:00:00','2026-01-01 00:00:00',0,'')"
            ))
            .unwrap();
            diesel::insert_into(workflow_queue::table)
                .values(&super::super::store::NewQueueRow {
                    tenant_id: "t".into(),
                    run_id: run,
                    step_id: "a".into(),
                    kind: "step".into(),
                    ready_at: now,
                    held: false,
                    lease_owner: None,
                    lease_token: None,
                    lease_until: None,
                    enqueued_at: now,
                })
                .execute(conn)
                .unwrap();
        }
    }

    fn claim_all_and_effects(a: &mut DbConnection, b: Option<&mut DbConnection>) {
        seed(a, 10);
        let now = chrono::Utc::now().naive_utc();
        let until = now + chrono::Duration::seconds(30);
        let first = write_tx(a, |c| claim(c, "one", "tok1", now, until, 6)).unwrap();
        assert_eq!(first.len(), 6);
        let second = match b {
            Some(b) => write_tx(b, |c| claim(c, "two", "tok2", now, until, 10)).unwrap(),
            None => write_tx(a, |c| claim(c, "two", "tok2", now, until, 10)).unwrap(),
        };
        assert_eq!(second.len(), 4, "only unleased rows are claimed");
        let mut ids: Vec<i64> = first.iter().chain(&second).map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10, "no row is claimed twice");
        // Expired leases are taken over.
        let later = until + chrono::Duration::seconds(1);
        let again = write_tx(a, |c| claim(c, "three", "tok3", later, later, 100)).unwrap();
        assert_eq!(again.len(), 10);

        let run_ids: Vec<String> = (0..3).map(|i| format!("r{i:03}")).collect();
        let locked = write_tx(a, |c| lock_runs(c, &run_ids, false)).unwrap();
        assert_eq!(
            locked.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
            run_ids
        );

        let effect = |run: &str| EffectRow {
            run_id: run.into(),
            step_id: "a".into(),
            tenant_id: "t".into(),
            executions: 1,
            first_at: now,
        };
        upsert_effects(a, &[effect("r000"), effect("r001")]).unwrap();
        upsert_effects(a, &[effect("r000")]).unwrap();
        let counts: Vec<(String, i64)> = workflow_effects::table
            .select((workflow_effects::run_id, workflow_effects::executions))
            .order(workflow_effects::run_id.asc())
            .load(a)
            .unwrap();
        assert_eq!(counts, vec![("r000".into(), 2), ("r001".into(), 1)]);

        // A failed write transaction leaves nothing behind.
        let failed: Result<(), diesel::result::Error> = write_tx(a, |c| {
            diesel::delete(workflow_queue::table).execute(c)?;
            Err(diesel::result::Error::RollbackTransaction)
        });
        assert!(failed.is_err());
        let left: i64 = workflow_queue::table.count().get_result(a).unwrap();
        assert_eq!(left, 10);
    }

    #[test]
    fn sqlite_claims_are_disjoint_and_effects_count_duplicates() {
        let (_dir, mut conn) = sqlite();
        claim_all_and_effects(&mut conn, None);
        assert_eq!(current_schema(&mut conn).unwrap(), None);
        notify(&mut conn, "x").unwrap();
    }

    #[test]
    fn postgres_claims_skip_locked_rows_and_effects_count_duplicates() {
        let Some((_schema, mut a, mut b)) = postgres() else {
            eprintln!("MAESTRO_TEST_DATABASE_URL is not set; PostgreSQL arm skipped");
            return;
        };
        // While one transaction holds its claimed rows locked, another skips them.
        let now = chrono::Utc::now().naive_utc();
        let until = now + chrono::Duration::seconds(30);
        seed(&mut a, 4);
        let mut held_by_a = 0;
        let mut seen_by_b = 0;
        let _: Result<(), diesel::result::Error> = a.transaction(|a_tx| {
            held_by_a = claim(a_tx, "a", "ta", now, until, 2)?.len();
            seen_by_b = write_tx(&mut b, |c| claim(c, "b", "tb", now, until, 10))?.len();
            Ok(())
        });
        assert_eq!((held_by_a, seen_by_b), (2, 2));
        diesel::delete(workflow_queue::table)
            .execute(&mut a)
            .unwrap();
        diesel::delete(workflow_runs::table)
            .execute(&mut a)
            .unwrap();
        diesel::delete(workflow_definitions::table)
            .execute(&mut a)
            .unwrap();
        claim_all_and_effects(&mut a, Some(&mut b));
        assert!(current_schema(&mut a).unwrap().unwrap().starts_with("d_"));
        notify(&mut a, "x").unwrap();
    }
}
