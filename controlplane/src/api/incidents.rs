//! `osprey.v1.IncidentService`: incidents listed, read with their timeline, worked through
//! the workflow (audited, operator), and watched live.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::api::auth::Role;
use crate::error::{Error, Kind, Result};
use crate::health::now_nanos;
use crate::incidents::{persist, GroupBy, Incident, IncidentsShared, Member, State};
use crate::proto;
use crate::proto::incident_service_server::IncidentService;

use super::{blocking, parse_address, ApiContext};

/// The service; cheap to clone.
#[derive(Clone, Debug)]
pub struct IncidentsApi {
    pub ctx: Arc<ApiContext>,
}

const TOKEN_INCIDENT: u8 = b'n';

fn encode_token(id: u64) -> String {
    let mut b = vec![TOKEN_INCIDENT];
    b.extend_from_slice(&id.to_be_bytes());
    hex::encode(b)
}

fn decode_token(t: &str) -> Result<u64> {
    if t.is_empty() {
        return Ok(0);
    }
    let bad = || Error::invalid("page_token is not one this server issued");
    let b = hex::decode(t).map_err(|_| bad())?;
    match b.split_first() {
        Some((&TOKEN_INCIDENT, rest)) => {
            Ok(u64::from_be_bytes(rest.try_into().map_err(|_| bad())?))
        }
        _ => Err(bad()),
    }
}

impl IncidentsApi {
    fn shared(&self) -> Result<Arc<IncidentsShared>> {
        self.ctx.incidents.clone().ok_or_else(|| {
            Error::new(
                Kind::FailedPrecondition,
                "incidents are disabled ([incidents] enabled = false)",
            )
        })
    }
}

/// The API's view of an incident, with time in state counted up to `now_ns`.
pub fn incident_proto(i: &Incident, now_ns: u64) -> proto::Incident {
    let times = i.time_in_states(now_ns);
    proto::Incident {
        id: i.id,
        group_by: match i.key.by {
            GroupBy::Host => "host",
            GroupBy::Pair => "pair",
        }
        .into(),
        host: i.key.host.to_string(),
        peer: i.key.peer.map(|p| p.to_string()).unwrap_or_default(),
        title: i.title.clone(),
        first_ns: i.first_ns,
        last_ns: i.last_ns,
        alerts: i.alerts,
        members_kept: i.members_kept,
        members_dropped: i.members_dropped,
        severity: i.severity.into(),
        hosts: i.hosts.iter().map(IpAddr::to_string).collect(),
        sids: i.sids.clone(),
        tactics: i
            .tactics
            .iter()
            .map(|(t, at)| proto::Tactic {
                tactic_id: t.clone(),
                first_ns: *at,
            })
            .collect(),
        stage: i.stage.into(),
        kill_chain: i.kill_chain,
        intel_confidence: i.intel_confidence.into(),
        score: i.score,
        explanation: i
            .explanation
            .iter()
            .map(|c| proto::Contribution {
                factor: c.factor.clone(),
                detail: c.detail.clone(),
                points: c.points,
            })
            .collect(),
        state: i.state.as_str().into(),
        state_since_ns: i.state_since_ns,
        time_in_state: State::ALL
            .iter()
            .zip(times)
            .map(|(s, ns)| proto::StateTime {
                state: s.as_str().into(),
                ns,
            })
            .collect(),
        assignee: i.assignee.clone(),
        notes: i
            .notes
            .iter()
            .map(|n| proto::Note {
                time_ns: n.time_ns,
                who: n.who.clone(),
                text: n.text.clone(),
            })
            .collect(),
        tags: i.tags.clone(),
        updated_ns: i.updated_ns,
        techniques: i.techniques.clone(),
        responses: i.responses.iter().map(Into::into).collect(),
    }
}

fn member_proto(m: &Member) -> proto::Member {
    proto::Member {
        timestamp_ns: m.ts_ns,
        kind: "alert".into(),
        alert_id: m.alert_id,
        sid: m.sid,
        msg: m.msg.clone(),
        severity: m.severity.into(),
        src_ip: m.src_ip.to_string(),
        dest_ip: m.dst_ip.to_string(),
        tactic_id: m.attack.tactic_id.clone(),
        tactic_name: m.attack.tactic_name.clone(),
        technique_id: m.attack.technique_id.clone(),
        technique_name: m.attack.technique_name.clone(),
    }
}

fn parse_states(states: &[String]) -> Result<Vec<State>> {
    states
        .iter()
        .map(|s| {
            State::parse(s.trim()).ok_or_else(|| {
                Error::invalid(format!(
                    "state `{s}` is not one of new, acknowledged, investigating, contained, resolved, false_positive"
                ))
            })
        })
        .collect()
}

type IncidentStream =
    Pin<Box<dyn Stream<Item = std::result::Result<proto::Incident, Status>> + Send>>;

#[tonic::async_trait]
impl IncidentService for IncidentsApi {
    async fn list(
        &self,
        request: Request<proto::ListIncidentsRequest>,
    ) -> std::result::Result<Response<proto::ListIncidentsResponse>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, "osprey.v1.IncidentService/List", "", Role::Viewer)?;
        let shared = self.shared()?;
        let q = request.into_inner();
        let states = parse_states(&q.states)?;
        let address = parse_address("address", &q.address)?;
        let before = decode_token(&q.page_token)?;
        let limit = ctx.page_size(q.page_size)?;
        let tactic = q.tactic_id.trim().to_owned();
        let min_score = q.min_score;
        let keep = move |i: &Incident| {
            (states.is_empty() || states.contains(&i.state))
                && i.score >= min_score
                && (tactic.is_empty() || i.tactics.iter().any(|(t, _)| *t == tactic))
                && address.is_none_or(|a| {
                    i.key.host == a || i.key.peer == Some(a) || i.hosts.contains(&a)
                })
        };
        let store = shared.store.clone();
        let (mut items, next) =
            blocking(move || persist::list(&store, before, limit, keep)).await?;
        // Recency only falls after a change: filter again on the score as of now.
        shared.rescore(&mut items);
        items.retain(|i| i.score >= min_score);
        if q.by_score {
            items.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        }
        let now = now_nanos();
        Ok(Response::new(proto::ListIncidentsResponse {
            incidents: items.iter().map(|i| incident_proto(i, now)).collect(),
            next_page_token: next.map(encode_token).unwrap_or_default(),
        }))
    }

    async fn get(
        &self,
        request: Request<proto::GetIncidentRequest>,
    ) -> std::result::Result<Response<proto::IncidentDetail>, Status> {
        let ctx = self.ctx.clone();
        let q = request.get_ref();
        let target = format!("incident {}", q.id);
        ctx.auth.authorize(
            &request,
            "osprey.v1.IncidentService/Get",
            &target,
            Role::Viewer,
        )?;
        let shared = self.shared()?;
        let q = request.into_inner();
        let limit = if q.max_members == 0 {
            usize::MAX
        } else {
            q.max_members as usize
        };
        let store = shared.store.clone();
        let (mut inc, members) = blocking(move || {
            let inc = persist::get(&store, q.id)?
                .ok_or_else(|| Error::not_found(format!("incident {}", q.id)))?;
            let m = persist::members(&store, q.id, limit)?;
            Ok((inc, m))
        })
        .await?;
        shared.rescore(std::slice::from_mut(&mut inc));
        Ok(Response::new(proto::IncidentDetail {
            incident: Some(incident_proto(&inc, now_nanos())),
            timeline: members.iter().map(member_proto).collect(),
        }))
    }

    async fn update(
        &self,
        request: Request<proto::UpdateIncidentRequest>,
    ) -> std::result::Result<Response<proto::Incident>, Status> {
        let ctx = self.ctx.clone();
        let method = "osprey.v1.IncidentService/Update";
        let q = request.get_ref();
        let target = update_target(q);
        let p = ctx
            .auth
            .authorize(&request, method, &target, Role::Operator)?;
        let shared = self.shared()?;
        let q = request.into_inner();
        let who = p.name.clone();
        let result = async {
            let to = match q.state.trim() {
                "" => None,
                s => Some(parse_states(&[s.to_owned()])?[0]),
            };
            blocking(move || {
                shared.update(q.id, |inc| {
                    let now = now_nanos();
                    if let Some(to) = to {
                        inc.transition(to, now)?;
                    }
                    if let Some(a) = &q.assignee {
                        inc.assign(a, now)?;
                    }
                    if !q.note.is_empty() {
                        inc.add_note(&who, &q.note, now)?;
                    }
                    for t in &q.tags {
                        inc.add_tag(t, now)?;
                    }
                    Ok(())
                })
            })
            .await
        }
        .await;
        ctx.auth.audit(&p, method, &target, &result);
        Ok(Response::new(incident_proto(&result?, now_nanos())))
    }

    type WatchStream = IncidentStream;

    async fn watch(
        &self,
        request: Request<proto::WatchIncidentsRequest>,
    ) -> std::result::Result<Response<Self::WatchStream>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth.authorize(
            &request,
            "osprey.v1.IncidentService/Watch",
            "",
            Role::Viewer,
        )?;
        let shared = self.shared()?;
        let min_score = request.into_inner().min_score;
        let mut rx = shared.changes.subscribe();
        let mut shutdown = ctx.shutdown.subscribe();
        let (tx, out) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = super::until_shutdown(&mut shutdown) => break,
                    r = rx.recv() => match r {
                        Ok(i) if i.score >= min_score => {
                            if tx.send(Ok(incident_proto(&i, now_nanos()))).await.is_err() {
                                break;
                            }
                        }
                        Ok(_) => {}
                        // A watcher that fell behind misses changes; it is told so.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            let s = Status::data_loss(format!("{n} incident changes missed: the watcher fell behind"));
                            let _ = tx.send(Err(s)).await;
                            break;
                        }
                        Err(_) => break,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out),
        )))
    }
}

/// What an update acts on, for the audit log.
fn update_target(q: &proto::UpdateIncidentRequest) -> String {
    let mut t = format!("incident {}", q.id);
    if !q.state.is_empty() {
        t.push_str(&format!(" state={}", q.state));
    }
    if let Some(a) = &q.assignee {
        t.push_str(&format!(" assignee={a}"));
    }
    if !q.note.is_empty() {
        t.push_str(" note");
    }
    if !q.tags.is_empty() {
        t.push_str(&format!(" tags={}", q.tags.join(",")));
    }
    crate::store::audit::cap_field(&t, 256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode_token(&encode_token(42)).unwrap(), 42);
        assert_eq!(decode_token("").unwrap(), 0);
        assert!(decode_token(&super::super::encode_rule_token(1, 2)).is_err());
        assert!(parse_states(&["closed".into()]).is_err());
    }
}
