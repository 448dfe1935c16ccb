//! One task per TAXII feed: polls its collection every `poll`, from the stored
//! `added_after` on, hands what it fetched to the manager, and after a failure retries with
//! exponential back-off (1 s doubling up to the poll interval), each failure counted by cause.
//! The feed's indicators stay as they were until a poll succeeds.

use std::sync::Arc;
use std::time::Duration;

use super::feed::{Cause, FeedCursor, FeedError};
use super::taxii::Client;
use super::Intel;
use crate::config::IntelFeed;

/// First retry after a failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Starts the poll task of every TAXII feed; they stop when `shutdown` flips.
pub fn spawn(
    intel: &Arc<Intel>,
    shutdown: &tokio::sync::watch::Sender<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    intel
        .taxii_feeds()
        .into_iter()
        .map(|f| {
            let (intel, mut sd) = (intel.clone(), shutdown.subscribe());
            tokio::spawn(async move {
                tokio::select! {
                    _ = crate::api::until_shutdown(&mut sd) => {}
                    _ = run(intel, f) => {}
                }
            })
        })
        .collect()
}

/// The poll loop of `feed` (never returns).
async fn run(intel: Arc<Intel>, feed: IntelFeed) {
    let every = feed.poll_interval().unwrap_or(Duration::from_secs(3600));
    let cfg = intel.config();
    let client = Client::new(
        &feed,
        Duration::from_secs(cfg.read_timeout_secs),
        cfg.max_response_bytes,
    );
    let mut backoff = FIRST_BACKOFF;
    let mut place: Option<(String, String)> = None;
    loop {
        let r = match &client {
            Ok(c) => poll_once(&intel, &feed.name, c, &mut place).await,
            Err(e) => Err(e.clone()),
        };
        let wait = match r {
            Ok(n) => {
                tracing::debug!(feed = %feed.name, changed = n, "intel feed polled");
                backoff = FIRST_BACKOFF;
                every
            }
            Err(e) => {
                tracing::warn!(feed = %feed.name, error = %e, retry_in = ?backoff, "intel feed poll failed");
                intel.feed_failed(&feed.name, &e, crate::health::now_nanos());
                // The collection is looked up again after a failure (it may have moved).
                place = None;
                let w = backoff;
                backoff = (backoff * 2).min(every.max(FIRST_BACKOFF));
                w
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// One poll: finds the API root and collection (once), fetches what was added since the
/// cursor, and stores it; returns how many objects changed.
async fn poll_once(
    intel: &Arc<Intel>,
    name: &str,
    client: &Client,
    place: &mut Option<(String, String)>,
) -> Result<u64, FeedError> {
    if place.is_none() {
        let root = client.api_root().await?;
        let coll = client.collection(&root).await?;
        *place = Some((root, coll));
    }
    let (root, coll) = place.as_ref().expect("set above");
    let cursor = intel.cursor(name).unwrap_or_default();
    let fetched = client
        .objects(root, coll, cursor.added_after.as_deref())
        .await?;
    let now = crate::health::now_nanos();
    let next = FeedCursor {
        added_after: fetched.added_last.clone(),
        last_poll_ns: now,
        last_ok_ns: now,
        ..cursor
    };
    let (i, n) = (intel.clone(), name.to_owned());
    tokio::task::spawn_blocking(move || i.add_objects(&n, fetched.objects, next, now))
        .await
        .map_err(|e| FeedError::new(Cause::Storage, e.to_string()))?
}
