//! Embedded migrations, one set per backend (`migrations/sqlite`, `migrations/postgres`, same
//! folder names), applied at start (unless `database.migrate_on_start = false`) and by
//! `maestro migrate`.

use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DbConnection;

pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Arbitrary constant: replicas starting together on one PostgreSQL migrate one at a time.
const MIGRATION_LOCK_KEY: i64 = 0x006d_6165_7374_726f;

/// Applies pending migrations; returns the names applied.
pub fn run_pending(conn: &mut DbConnection) -> anyhow::Result<Vec<String>> {
    let applied = match conn {
        DbConnection::Postgres(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let result = pg
                .run_pending_migrations(POSTGRES)
                .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>());
            pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            result
        }
        DbConnection::Sqlite(lite) => lite
            .run_pending_migrations(SQLITE)
            .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>()),
    };
    applied.map_err(|e| anyhow::anyhow!("migration failed: {e}"))
}

/// How many migrations are not applied yet (0 means the schema is current).
pub fn pending_count(conn: &mut DbConnection) -> anyhow::Result<usize> {
    let pending = match conn {
        DbConnection::Postgres(pg) => pg.pending_migrations(POSTGRES).map(|v| v.len()),
        DbConnection::Sqlite(lite) => lite.pending_migrations(SQLITE).map(|v| v.len()),
    };
    pending.map_err(|e| anyhow::anyhow!("cannot read the migration table: {e}"))
}
