//! Unit tests of the templates store: the change feed the search index follows.

use diesel::Connection;
use diesel::connection::SimpleConnection;

use super::*;
use crate::platform::db::migrate;

fn row(tenant: &TenantId, id: &str, name: &str) -> TemplateRow {
    let at = chrono::Utc::now().naive_utc();
    TemplateRow {
        id: id.into(),
        tenant_id: tenant.0.clone(),
        name: name.into(),
        category: "backend_developer".into(),
        version: "1.0.0".into(),
        description: String::new(),
        author: "a".into(),
        tags: "[]".into(),
        format: "native".into(),
        manifest: "{}".into(),
        parameters: "[]".into(),
        file_count: 1,
        size_bytes: 1,
        has_hooks: false,
        quality_score: None,
        quality_commit: None,
        current_commit: "c1".into(),
        created_by: "u".into(),
        updated_by: "u".into(),
        created_at: at,
        updated_at: at,
        status: TemplateStatus::Published.as_str().into(),
        draft_gate: None,
    }
}

/// A migrated in-memory database with tenants `a` and `b`.
fn with_two_tenants() -> DbConnection {
    let mut conn = DbConnection::establish(":memory:").unwrap();
    migrate::run_pending(&mut conn).unwrap();
    conn.batch_execute(
        "INSERT INTO tenants (id, name, created_at) VALUES \
         ('a', 'a', '2026-12-09 00:00:00'), ('b', 'b', '2026-12-09 00:00:00')",
    )
    .unwrap();
    conn
}

fn feed(conn: &mut DbConnection, tenant: &TenantId, after: i64) -> Vec<(String, i64)> {
    changes_since(conn, tenant, after).unwrap()
}

/// Every kind of row write lands in the feed, in order, once per template with its latest
/// number; deletions leave a tombstone; tenants have their own counters and feeds.
#[test]
fn the_change_feed_names_what_each_write_touched() {
    let mut conn = with_two_tenants();
    let (a, b) = (TenantId("a".into()), TenantId("b".into()));
    let conn = &mut conn;
    assert_eq!(change_seq(conn, &a).unwrap(), 0);
    insert(conn, &a, &row(&a, "t1", "one")).unwrap();
    insert(conn, &a, &row(&a, "t2", "two")).unwrap();
    assert_eq!(change_seq(conn, &a).unwrap(), 2);
    assert_eq!(feed(conn, &a, 0), vec![("t1".into(), 1), ("t2".into(), 2)]);
    let mut renamed = row(&a, "t1", "uno");
    renamed.current_commit = "c2".into();
    assert!(matches!(
        update(conn, &a, &renamed).unwrap(),
        RowWrite::Written
    ));
    assert_eq!(feed(conn, &a, 2), vec![("t1".into(), 3)]);
    assert_eq!(set_quality(conn, &a, "t2", "c1", 80.0).unwrap(), 1);
    assert_eq!(feed(conn, &a, 3), vec![("t2".into(), 4)]);
    // A score for a commit that is no longer current changes nothing, so names nothing.
    assert_eq!(set_quality(conn, &a, "t1", "c1", 10.0).unwrap(), 0);
    assert!(feed(conn, &a, 4).is_empty());
    assert_eq!(delete(conn, &a, "t1").unwrap(), 1);
    let seq = change_seq(conn, &a).unwrap();
    assert_eq!(feed(conn, &a, 4), vec![("t1".into(), seq)]);
    assert!(find(conn, &a, "t1").unwrap().is_none());
    // The whole feed: each template once, with its latest number.
    assert_eq!(
        feed(conn, &a, 0),
        vec![("t2".into(), 4), ("t1".into(), seq)]
    );
    // Another tenant: its own counter and feed.
    insert(conn, &b, &row(&b, "t3", "one")).unwrap();
    assert_eq!(change_seq(conn, &b).unwrap(), 1);
    assert_eq!(feed(conn, &b, 0), vec![("t3".into(), 1)]);
    assert_eq!(change_seq(conn, &a).unwrap(), seq);
    assert!(feed(conn, &a, seq).is_empty());
}

/// Pruning removes the entries written before the cutoff, tombstones included, and nothing
/// newer; the counters stay, so a watermark at or after the pruned entries reads the same feed.
#[test]
fn pruning_the_change_feed_keeps_what_is_newer_than_the_cutoff() {
    let mut conn = with_two_tenants();
    let (a, b) = (TenantId("a".into()), TenantId("b".into()));
    let conn = &mut conn;
    insert(conn, &a, &row(&a, "t1", "one")).unwrap();
    insert(conn, &a, &row(&a, "t2", "two")).unwrap();
    assert_eq!(delete(conn, &a, "t1").unwrap(), 1);
    insert(conn, &b, &row(&b, "t3", "three")).unwrap();
    // Age the entries so far by an hour.
    conn.batch_execute("UPDATE template_changes SET changed_at = datetime(changed_at, '-1 hour')")
        .unwrap();
    let cutoff = chrono::Utc::now().naive_utc() - chrono::Duration::minutes(30);
    // A newer write of t2 keeps its entry.
    let mut t2 = row(&a, "t2", "two");
    t2.current_commit = "c2".into();
    assert!(matches!(update(conn, &a, &t2).unwrap(), RowWrite::Written));
    assert_eq!(
        prune_changes(conn, cutoff).unwrap(),
        2,
        "t1's tombstone and t3"
    );
    assert_eq!(feed(conn, &a, 0), vec![("t2".into(), 4)]);
    assert_eq!(feed(conn, &a, 3), vec![("t2".into(), 4)]);
    assert!(feed(conn, &b, 0).is_empty());
    assert_eq!(change_seq(conn, &a).unwrap(), 4);
    assert_eq!(change_seq(conn, &b).unwrap(), 1);
    assert_eq!(prune_changes(conn, cutoff).unwrap(), 0);
}
