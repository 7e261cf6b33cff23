//! A store that fails on request, for tests (the `testing` feature): writes refused as on a
//! full disk, and a short wait for a database that another process holds. The failures happen
//! inside SQLite (temporary triggers that abort every write, SQLite's own busy timeout), so
//! the bot meets them exactly where a real fault would hit it.

use std::time::Duration;

use super::Store;
use crate::Result;

/// Every table the store writes.
const TABLES: [&str; 4] = ["turns", "channels", "seen", "answers"];
const WRITES: [&str; 3] = ["INSERT", "UPDATE", "DELETE"];

impl Store {
    /// From now on every write fails with "database or disk is full" (reads still work), until
    /// [`Store::free_disk`].
    pub async fn fill_disk(&self) -> Result<()> {
        self.with_connection(|c| {
            for table in TABLES {
                for write in WRITES {
                    c.execute_batch(&format!(
                        "CREATE TEMP TRIGGER IF NOT EXISTS full_{table}_{write} \
                         BEFORE {write} ON main.{table} \
                         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
                    ))?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Writes work again after [`Store::fill_disk`].
    pub async fn free_disk(&self) -> Result<()> {
        self.with_connection(|c| {
            for table in TABLES {
                for write in WRITES {
                    c.execute_batch(&format!(
                        "DROP TRIGGER IF EXISTS temp.full_{table}_{write};"
                    ))?;
                }
            }
            Ok(())
        })
        .await
    }

    /// How long a write waits (SQLite retrying meanwhile) for a database another process
    /// holds before it fails with "database is locked"; the store opens with 5 s.
    pub async fn set_busy_timeout(&self, wait: Duration) -> Result<()> {
        self.with_connection(move |c| c.busy_timeout(wait)).await
    }
}
