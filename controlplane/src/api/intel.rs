//! `osprey.v1.IntelService`: threat-intelligence feeds, the indicators the workers run, the
//! hits they reported ([`crate::intel`]). Viewers read; operators import and give verdicts on
//! hits (each retrains the confidence-scoring model). An import answers
//! once every running worker confirmed the generation that carries it, or fails with
//! `ABORTED` after `api.reload_confirm_timeout_ms` (stored and published all the same).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::{Request, Response, Status};

use crate::api::auth::Role;
use crate::error::{Error, Kind, Result};
use crate::intel::hunt::{HuntRequest, HuntRun, Trigger};
use crate::intel::score::Scored;
use crate::intel::{FeedStatus, HitFilter, IndicatorCounts, IndicatorFilter, StoredHit};
use crate::proto;
use crate::proto::intel_service_server::IntelService;

use super::{blocking, ApiContext};

const SVC: &str = "osprey.v1.IntelService";
/// `Related`'s window either side of the hit unless asked: an hour.
const RELATED_WINDOW_SECS: u64 = 3600;
const MAX_RELATED_WINDOW_SECS: u64 = 7 * 24 * 3600;

/// The service; cheap to clone.
#[derive(Clone, Debug)]
pub struct IntelApi {
    pub ctx: Arc<ApiContext>,
}

fn counts(c: IndicatorCounts) -> proto::IndicatorCounts {
    proto::IndicatorCounts {
        active: c.active,
        expired: c.expired,
        unsupported: c.unsupported,
        revoked: c.revoked,
        malformed: c.malformed,
    }
}

impl From<&FeedStatus> for proto::Feed {
    fn from(f: &FeedStatus) -> Self {
        proto::Feed {
            name: f.name.clone(),
            kind: f.kind.clone(),
            location: f.location.clone(),
            collection: f.collection.clone(),
            poll_secs: f.poll_secs,
            last_poll_ns: f.last_poll_ns,
            last_ok_ns: f.last_ok_ns,
            last_error: f.last_error.clone(),
            objects_fetched: f.objects_fetched,
            objects: f.objects,
            errors: f
                .errors
                .iter()
                .map(|(c, n)| proto::FeedErrors {
                    cause: (*c).to_owned(),
                    count: *n,
                })
                .collect(),
            indicators: Some(counts(f.indicators)),
            hits: f.hits,
            alerts: f.alerts,
            retro_findings: f.retro_findings,
        }
    }
}

impl From<StoredHit> for proto::Hit {
    fn from(h: StoredHit) -> Self {
        proto::Hit {
            id: h.id,
            ts_nanos: h.ts_nanos,
            feed: h.feed,
            indicator_id: h.indicator_id,
            pattern: h.pattern,
            matched_field: h.matched_field,
            matched_value: h.matched_value,
            confidence: h.confidence.map_or(-1, i32::from),
            flow_id: h.flow_id,
            src_ip: h.src_ip,
            src_port: u32::from(h.src_port),
            dest_ip: h.dest_ip,
            dest_port: u32::from(h.dest_port),
            proto: h.proto,
            eve: h.eve,
            retro: h.retro,
        }
    }
}

impl From<HuntRun> for proto::HuntRun {
    fn from(r: HuntRun) -> Self {
        proto::HuntRun {
            id: r.id,
            started_ns: r.started_ns,
            duration_ns: r.duration_ns,
            trigger: r.trigger,
            feed: r.feed,
            indicator_id: r.indicator,
            since_ns: r.since_ns,
            passes: r.passes,
            indicators: r.indicators,
            unhuntable: r.unhuntable,
            entries: r.entries,
            matches: r.matches,
            findings: r.findings,
            duplicates: r.duplicates,
            truncated: r.truncated,
            error: r.error,
        }
    }
}

/// Page tokens: a decimal number (an offset for indicators, the last id for hits).
fn score(s: &Scored) -> proto::Score {
    proto::Score {
        score: u32::from(s.score),
        model_version: s.model_version,
        factors: s
            .explanation
            .iter()
            .map(|c| proto::ScoreFactor {
                feature: c.feature.to_owned(),
                value: c.value,
                weight: c.weight,
            })
            .collect(),
    }
}

fn decode_token(t: &str) -> Result<u64> {
    if t.is_empty() {
        return Ok(0);
    }
    t.parse()
        .map_err(|_| Error::invalid("page_token is not one this server issued"))
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl IntelApi {
    /// Waits until every running worker runs `generation`.
    async fn confirm(&self, generation: u64) -> Result<()> {
        let timeout = Duration::from_millis(self.ctx.config.reload_confirm_timeout_ms);
        let started = Instant::now();
        while !self.ctx.intel.confirmed(generation) {
            if started.elapsed() >= timeout {
                return Err(Error::new(
                    Kind::Aborted,
                    format!(
                        "intel generation {generation} is stored and published but workers report {:?} after {} ms",
                        self.ctx.appliance.intel_generations(),
                        timeout.as_millis()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl IntelService for IntelApi {
    async fn list_feeds(
        &self,
        request: Request<proto::ListFeedsRequest>,
    ) -> Result<Response<proto::ListFeedsResponse>, Status> {
        let ctx = &self.ctx;
        ctx.auth
            .authorize(&request, &format!("{SVC}/ListFeeds"), "", Role::Viewer)?;
        Ok(Response::new(proto::ListFeedsResponse {
            feeds: ctx.intel.feeds().iter().map(Into::into).collect(),
            generation: ctx.intel.generation(),
            worker_generations: ctx.appliance.intel_generations(),
        }))
    }

    async fn list_indicators(
        &self,
        request: Request<proto::ListIndicatorsRequest>,
    ) -> Result<Response<proto::ListIndicatorsResponse>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, &format!("{SVC}/ListIndicators"), "", Role::Viewer)?;
        let q = request.into_inner();
        let offset = decode_token(&q.page_token)? as usize;
        let f = IndicatorFilter {
            feed: non_empty(&q.feed),
            kind: non_empty(&q.r#type),
            value: non_empty(&q.value),
            limit: ctx.page_size(q.page_size)?,
            offset,
        };
        let intel = ctx.intel.clone();
        let (list, more) = blocking(move || intel.indicators(&f)).await?;
        let next = if more {
            (offset + list.len()).to_string()
        } else {
            String::new()
        };
        Ok(Response::new(proto::ListIndicatorsResponse {
            indicators: list
                .into_iter()
                .map(|i| proto::Indicator {
                    id: i.id,
                    feed: i.feed,
                    pattern: i.pattern,
                    state: i.state.to_owned(),
                    confidence: i.confidence.map_or(-1, i32::from),
                    labels: i.labels,
                    valid_from_ns: i.valid_from_ns,
                    valid_until_ns: i.valid_until_ns,
                    values: i.values,
                    score: Some(score(&i.score)),
                })
                .collect(),
            next_page_token: next,
        }))
    }

    async fn list_hits(
        &self,
        request: Request<proto::ListHitsRequest>,
    ) -> Result<Response<proto::ListHitsResponse>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, &format!("{SVC}/ListHits"), "", Role::Viewer)?;
        let q = request.into_inner();
        let f = HitFilter {
            feed: non_empty(&q.feed),
            indicator: non_empty(&q.indicator_id),
            retro: q.retro.then_some(true),
            before: decode_token(&q.page_token)?,
            limit: ctx.page_size(q.page_size)?,
        };
        let store = ctx.store.clone();
        let limit = f.limit;
        let hits = blocking(move || store.intel_hits(f.before, f.limit, &|h| f.keeps(h))).await?;
        let next = match hits.last() {
            Some(h) if hits.len() == limit && h.id > 1 => h.id.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(proto::ListHitsResponse {
            hits: hits.into_iter().map(Into::into).collect(),
            next_page_token: next,
        }))
    }

    async fn import(
        &self,
        request: Request<proto::ImportRequest>,
    ) -> Result<Response<proto::ImportResponse>, Status> {
        let ctx = self.ctx.clone();
        let method = format!("{SVC}/Import");
        let feed = non_empty(&request.get_ref().feed)
            .unwrap_or_else(|| crate::intel::IMPORT_FEED.to_owned());
        let who = ctx
            .auth
            .authorize(&request, &method, &feed, Role::Operator)?;
        if feed.len() > 64 || feed.contains(['\0', '"', '\n']) {
            return Err(
                Error::invalid("feed: at most 64 bytes, no quotes or control characters").into(),
            );
        }
        let content = request.into_inner().content;
        let intel = ctx.intel.clone();
        let name = feed.clone();
        let res = blocking(move || intel.import(&name, &content, crate::health::now_nanos())).await;
        let audited = res.as_ref().map(|r| r.objects).map_err(Clone::clone);
        ctx.auth.audit(&who, &method, &feed, &audited);
        let r = res?;
        self.confirm(r.generation).await?;
        Ok(Response::new(proto::ImportResponse {
            feed: r.feed,
            objects: r.objects,
            indicators: Some(counts(r.indicators)),
            generation: r.generation,
            left_out: r
                .left_out
                .iter()
                .map(|(what, why)| format!("{what}: {why}"))
                .collect(),
        }))
    }

    async fn stats(
        &self,
        request: Request<proto::IntelStatsRequest>,
    ) -> Result<Response<proto::IntelStatsResponse>, Status> {
        let ctx = &self.ctx;
        ctx.auth
            .authorize(&request, &format!("{SVC}/Stats"), "", Role::Viewer)?;
        let s = ctx.intel.stats();
        let m = ctx.store.hunt_storage();
        use std::sync::atomic::Ordering::Relaxed;
        Ok(Response::new(proto::IntelStatsResponse {
            feeds: s.feeds,
            objects: s.objects,
            indicators: Some(counts(s.indicators)),
            lookups: s.lookups,
            generation: s.generation,
            worker_generations: s.worker_generations,
            hits_stored: s.hits_stored,
            hits_pruned: s.hits_pruned,
            hits_lost: s.hits_lost,
            alerts_raised: s.alerts_raised,
            alerts_dropped: s.alerts_dropped,
            metadata_records: m.records,
            metadata_index_bytes: m.index_bytes,
            hunts: ctx.intel.hunt_counters.runs.load(Relaxed),
            hunt_findings: ctx.intel.hunt_counters.findings.load(Relaxed),
            sharing: ctx.intel.sharing.as_ref().map(sharing_stats),
        }))
    }

    async fn verdict(
        &self,
        request: Request<proto::VerdictRequest>,
    ) -> Result<Response<proto::VerdictResponse>, Status> {
        let ctx = self.ctx.clone();
        let method = format!("{SVC}/Verdict");
        let q = *request.get_ref();
        let who = ctx
            .auth
            .authorize(&request, &method, &q.hit.to_string(), Role::Operator)?;
        let intel = ctx.intel.clone();
        let res =
            blocking(move || intel.verdict(q.hit, q.true_positive, crate::health::now_nanos()))
                .await;
        let audited = res.as_ref().map(|r| r.examples).map_err(Clone::clone);
        ctx.auth.audit(&who, &method, &q.hit.to_string(), &audited);
        let r = res?;
        Ok(Response::new(proto::VerdictResponse {
            hit: r.hit,
            indicator_id: r.indicator_id,
            true_positive: r.true_positive,
            before: Some(score(&r.before)),
            after: Some(score(&r.after)),
            examples: r.examples,
        }))
    }

    async fn hunt(
        &self,
        request: Request<proto::HuntRequest>,
    ) -> Result<Response<proto::HuntRun>, Status> {
        let ctx = self.ctx.clone();
        let method = format!("{SVC}/Hunt");
        let q = request.get_ref().clone();
        let who = ctx
            .auth
            .authorize(&request, &method, &q.indicator_id, Role::Operator)?;
        let intel = ctx.intel.clone();
        let target = q.indicator_id.clone();
        let res = blocking(move || {
            let newest = intel.store().newest_metadata_ns()?;
            let since_ns = match q.since_secs {
                0 => 0,
                s => newest.saturating_sub(s.saturating_mul(1_000_000_000)),
            };
            let req = HuntRequest {
                trigger: Trigger::Manual,
                feed: non_empty(&q.feed),
                indicators: non_empty(&q.indicator_id).map(|i| [i].into_iter().collect()),
                since_ns,
            };
            intel.hunt(&req, crate::health::now_nanos())
        })
        .await;
        let audited = res.as_ref().map(|r| r.findings).map_err(Clone::clone);
        ctx.auth.audit(&who, &method, &target, &audited);
        Ok(Response::new(res?.into()))
    }

    async fn list_hunts(
        &self,
        request: Request<proto::ListHuntsRequest>,
    ) -> Result<Response<proto::ListHuntsResponse>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, &format!("{SVC}/ListHunts"), "", Role::Viewer)?;
        let limit = ctx.page_size(request.get_ref().page_size)?;
        let store = ctx.store.clone();
        let runs = blocking(move || store.hunt_runs(limit)).await?;
        Ok(Response::new(proto::ListHuntsResponse {
            hunts: runs.into_iter().map(Into::into).collect(),
        }))
    }

    async fn related(
        &self,
        request: Request<proto::RelatedRequest>,
    ) -> Result<Response<proto::RelatedResponse>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, &format!("{SVC}/Related"), "", Role::Viewer)?;
        let q = *request.get_ref();
        let window = match q.window_secs {
            0 => RELATED_WINDOW_SECS,
            s if s > MAX_RELATED_WINDOW_SECS => {
                return Err(Error::invalid(format!(
                    "window_secs: at most {MAX_RELATED_WINDOW_SECS}"
                ))
                .into())
            }
            s => s,
        };
        let limit = ctx.page_size(q.limit)?;
        let intel = ctx.intel.clone();
        let r = blocking(move || intel.related(q.hit, window * 1_000_000_000, limit)).await?;
        Ok(Response::new(proto::RelatedResponse {
            hit: Some(r.hit.into()),
            window_ns: r.window_ns,
            alerts: r.alerts.iter().map(Into::into).collect(),
            flows: r.flows.iter().map(Into::into).collect(),
            hits: r.hits.into_iter().map(Into::into).collect(),
            objects: r
                .objects
                .into_iter()
                .map(|o| proto::RelatedObject {
                    r#type: o.kind,
                    id: o.id,
                    name: o.name,
                    external_id: o.external_id.unwrap_or_default(),
                })
                .collect(),
            indicators: r
                .indicators
                .into_iter()
                .map(|i| proto::RelatedIndicator {
                    id: i.id,
                    feed: i.feed,
                    pattern: i.pattern,
                    via: i.via,
                })
                .collect(),
        }))
    }

    async fn export(
        &self,
        request: Request<proto::ExportRequest>,
    ) -> Result<Response<proto::ExportResponse>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, &format!("{SVC}/Export"), "", Role::Viewer)?;
        let q = *request.get_ref();
        let intel = ctx.intel.clone();
        let r =
            blocking(move || intel.export(q.from_ns, q.to_ns, crate::health::now_nanos())).await?;
        Ok(Response::new(proto::ExportResponse {
            bundle: r.bundle,
            sightings: r.sightings,
            alerts: r.alerts,
            truncated: r.truncated,
        }))
    }
}

fn sharing_stats(s: &crate::intel::sharing::Sharing) -> proto::SharingStats {
    use std::sync::atomic::Ordering::Relaxed;
    let (c, st) = (&s.counters, s.status());
    proto::SharingStats {
        url: st.url,
        collection: st.collection,
        queued: c.queued.load(Relaxed),
        dropped: c.dropped.load(Relaxed),
        pending: c.pending.load(Relaxed),
        posts: c.posts.load(Relaxed),
        sightings_posted: c.sightings_posted.load(Relaxed),
        hits_posted: c.hits_posted.load(Relaxed),
        refused: c.refused.load(Relaxed),
        failures: c.failures.load(Relaxed),
        posted_through: st.posted_through,
        last_post_ns: st.last_post_ns,
        last_error: st.last_error,
        retry_in_ms: st.retry_in_ms,
    }
}
