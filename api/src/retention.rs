//! The retention policy: recordings and transcripts (and the callback payloads that carry them) are
//! purged a configured number of days after the call ended. The call row stays, with its outcome.

use crate::clock::{Clock, format_rfc3339};
use crate::store::{Store, StoreError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the purge runs.
const EVERY: Duration = Duration::from_secs(3600);

/// Purges calls that ended more than `days` ago; returns how many recordings were deleted.
pub async fn purge(store: &Store, clock: &dyn Clock, days: u32) -> Result<usize, StoreError> {
    let cutoff = clock.now() - time::Duration::days(i64::from(days));
    let files = store
        .purge_ended_before(&format_rfc3339(cutoff), &clock.now_rfc3339())
        .await?;
    let mut deleted = 0;
    for file in files {
        match tokio::fs::remove_file(&file).await {
            Ok(()) => deleted += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => tracing::warn!(%err, "cannot delete a recording past retention"),
        }
    }
    if deleted > 0 {
        tracing::info!(deleted, days, "recordings past retention deleted");
    }
    Ok(deleted)
}

/// Runs the purge now and then every hour until `shutdown`.
pub async fn run(store: Store, clock: std::sync::Arc<dyn Clock>, days: u32, shutdown: CancellationToken) {
    loop {
        if let Err(err) = purge(&store, clock.as_ref(), days).await {
            tracing::error!(%err, "retention purge failed");
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
