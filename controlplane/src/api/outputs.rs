//! `osprey.v1.OutputService`: the webhooks' dead letters ([`crate::outputs::webhook`]).
//! Viewers list them; operators send them again (audited).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::api::auth::Role;
use crate::error::{Error, Result};
use crate::outputs::webhook::Delivery;
use crate::proto;
use crate::proto::output_service_server::OutputService;
use crate::store::DeadLetter;

use super::{blocking, ApiContext};

const SVC: &str = "osprey.v1.OutputService";
const TOKEN_DEAD_LETTER: u8 = b'd';
/// Dead letters retried per call with `all` at most.
const RETRY_ALL_MAX: usize = 10_000;

/// The service; cheap to clone.
#[derive(Clone, Debug)]
pub struct OutputsApi {
    pub ctx: Arc<ApiContext>,
}

fn encode_token(id: u64) -> String {
    let mut b = vec![TOKEN_DEAD_LETTER];
    b.extend_from_slice(&id.to_be_bytes());
    hex::encode(b)
}

fn decode_token(token: &str) -> Result<u64> {
    if token.is_empty() {
        return Ok(0);
    }
    let bad = || Error::invalid("page_token is not one this server issued");
    let b = hex::decode(token).map_err(|_| bad())?;
    match b.split_first() {
        Some((&TOKEN_DEAD_LETTER, rest)) => <[u8; 8]>::try_from(rest)
            .map(u64::from_be_bytes)
            .map_err(|_| bad()),
        _ => Err(bad()),
    }
}

impl From<DeadLetter> for proto::DeadLetter {
    fn from(d: DeadLetter) -> Self {
        proto::DeadLetter {
            id: d.id,
            webhook: d.webhook,
            kind: d.kind,
            body: d.body,
            attempts: d.attempts,
            last_error: d.last_error,
            failed_ns: d.failed_ns,
        }
    }
}

impl OutputsApi {
    /// The dead letters a retry names.
    async fn selected(
        &self,
        r: &proto::RetryDeadLettersRequest,
    ) -> Result<Vec<(u64, Option<DeadLetter>)>> {
        let store = self.ctx.store.clone();
        if r.all {
            let webhook = r.webhook.clone();
            let (all, _) = blocking(move || store.dead_letters(&webhook, 0, RETRY_ALL_MAX)).await?;
            return Ok(all.into_iter().map(|d| (d.id, Some(d))).collect());
        }
        if r.ids.is_empty() {
            return Err(Error::invalid("name dead letter ids, or ask for all"));
        }
        let ids = r.ids.clone();
        blocking(move || {
            ids.into_iter()
                .map(|id| Ok((id, store.dead_letter(id)?)))
                .collect()
        })
        .await
    }

    /// Queues `d` on its webhook and removes it from storage.
    async fn retry_one(&self, d: DeadLetter) -> std::result::Result<(), String> {
        let hook = self
            .ctx
            .webhooks
            .get(&d.webhook)
            .ok_or_else(|| format!("webhook {:?} is not configured", d.webhook))?;
        let delivery = Delivery {
            kind: d.kind.clone(),
            body: d.body.into_bytes(),
        };
        if !hook.offer(delivery) {
            return Err(format!("webhook {:?} queue is full", d.webhook));
        }
        let store = self.ctx.store.clone();
        blocking(move || store.delete_dead_letter(d.id))
            .await
            .map_err(|e| format!("queued, but not removed from storage: {e}"))
    }
}

#[tonic::async_trait]
impl OutputService for OutputsApi {
    async fn list_dead_letters(
        &self,
        request: Request<proto::ListDeadLettersRequest>,
    ) -> Result<Response<proto::ListDeadLettersResponse>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth.authorize(
            &request,
            &format!("{SVC}/ListDeadLetters"),
            "",
            Role::Viewer,
        )?;
        let q = request.into_inner();
        let after = decode_token(&q.page_token)?;
        let limit = ctx.page_size(q.page_size)?;
        let store = ctx.store.clone();
        let (list, more) = blocking(move || store.dead_letters(&q.webhook, after, limit)).await?;
        let next = match (more, list.last()) {
            (true, Some(last)) => encode_token(last.id),
            _ => String::new(),
        };
        Ok(Response::new(proto::ListDeadLettersResponse {
            dead_letters: list.into_iter().map(Into::into).collect(),
            next_page_token: next,
        }))
    }

    async fn retry_dead_letters(
        &self,
        request: Request<proto::RetryDeadLettersRequest>,
    ) -> Result<Response<proto::RetryDeadLettersResponse>, Status> {
        let ctx = self.ctx.clone();
        let method = format!("{SVC}/RetryDeadLetters");
        let r = request.get_ref();
        let target = if r.all {
            format!("all {}", r.webhook)
        } else {
            format!("{:?}", r.ids)
        };
        let who = ctx
            .auth
            .authorize(&request, &method, &target, Role::Operator)?;
        let selected = self.selected(request.get_ref()).await;
        let mut out = proto::RetryDeadLettersResponse::default();
        if let Ok(sel) = &selected {
            for (id, d) in sel.iter().cloned() {
                let res = match d {
                    Some(d) => self.retry_one(d).await,
                    None => Err(format!("dead letter {id} does not exist")),
                };
                match res {
                    Ok(()) => out.retried.push(id),
                    Err(reason) => out.failed.push(proto::RetryFailure { id, reason }),
                }
            }
        }
        ctx.auth.audit(&who, &method, &target, &selected);
        selected?;
        Ok(Response::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode_token(&encode_token(7)).unwrap(), 7);
        assert_eq!(decode_token("").unwrap(), 0);
        assert!(decode_token(&super::super::blocks::encode_block_token(1)).is_err());
    }
}
