//! `osprey.v1.BlockService`: the dynamic block list ([`crate::blocks`]). Viewers list and
//! get; operators add and remove. A change answers once every running worker confirmed the
//! generation that carries it, or fails with `ABORTED` after `api.reload_confirm_timeout_ms`
//! (the change is stored and published all the same, and the workers take it at their next
//! burst).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::{Request, Response, Status};

use crate::api::auth::Role;
use crate::blocks::{ListFilter, NewBlock};
use crate::error::{Error, Kind, Result};
use crate::proto;
use crate::proto::block_service_server::BlockService;

use super::{blocking, parse_address, ApiContext};

const SVC: &str = "osprey.v1.BlockService";
const TOKEN_BLOCK: u8 = b'b';

/// The service; cheap to clone.
#[derive(Clone, Debug)]
pub struct BlocksApi {
    pub ctx: Arc<ApiContext>,
}

/// Opaque page token: the last id of a page.
pub fn encode_block_token(id: u64) -> String {
    let mut b = vec![TOKEN_BLOCK];
    b.extend_from_slice(&id.to_be_bytes());
    hex::encode(b)
}

/// Parses a token from [`encode_block_token`]; empty means the first page (0).
pub fn decode_block_token(token: &str) -> Result<u64> {
    if token.is_empty() {
        return Ok(0);
    }
    let bad = || Error::invalid("page_token is not one this server issued");
    let b = hex::decode(token).map_err(|_| bad())?;
    match b.split_first() {
        Some((&TOKEN_BLOCK, rest)) => <[u8; 8]>::try_from(rest)
            .map(u64::from_be_bytes)
            .map_err(|_| bad()),
        _ => Err(bad()),
    }
}

impl BlocksApi {
    /// Waits until every running worker runs `generation`.
    async fn confirm(&self, generation: u64) -> Result<()> {
        let timeout = Duration::from_millis(self.ctx.config.reload_confirm_timeout_ms);
        let started = Instant::now();
        while !self.ctx.blocks.confirmed(generation) {
            if started.elapsed() >= timeout {
                return Err(Error::new(
                    Kind::Aborted,
                    format!(
                        "block list generation {generation} is stored and published but workers report {:?} after {} ms",
                        self.ctx.blocks.worker_generations(),
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
impl BlockService for BlocksApi {
    async fn add(
        &self,
        request: Request<proto::AddBlockRequest>,
    ) -> Result<Response<proto::AddBlockResponse>, Status> {
        let ctx = self.ctx.clone();
        let method = format!("{SVC}/Add");
        let r = request.get_ref();
        let target = format!("{} {}", r.side, r.target);
        let who = ctx
            .auth
            .authorize(&request, &method, &target, Role::Operator)?;
        let r = request.into_inner();
        let req = NewBlock {
            target: r.target,
            side: r.side,
            origin: r.origin,
            reason: r.reason,
            expires_ns: r.expires_ns,
            ttl_secs: r.ttl_secs,
        };
        let list = ctx.blocks.clone();
        let name = who.name.clone();
        let res = blocking(move || list.add(&req, &name, crate::health::now_nanos())).await;
        let audited = res.as_ref().map(|a| a.entry.id).map_err(Clone::clone);
        ctx.auth.audit(&who, &method, &target, &audited);
        let added = res?;
        self.confirm(added.generation).await?;
        Ok(Response::new(proto::AddBlockResponse {
            entry: Some((&added.entry).into()),
            overlaps: added.overlaps,
            generation: added.generation,
        }))
    }

    async fn list(
        &self,
        request: Request<proto::ListBlocksRequest>,
    ) -> Result<Response<proto::ListBlocksResponse>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, &format!("{SVC}/List"), "", Role::Viewer)?;
        let q = request.into_inner();
        let origin = match q.origin.trim() {
            "" => None,
            o => Some(vocab::block::Origin::from_name(o).ok_or_else(|| {
                Error::invalid(format!(
                    "origin {o:?} is not api, playbook, intel or config"
                ))
            })?),
        };
        let filter = ListFilter {
            address: parse_address("address", &q.address)?,
            origin,
            after: decode_block_token(&q.page_token)?,
            limit: ctx.page_size(q.page_size)?,
        };
        let list = ctx.blocks.clone();
        let (entries, more) = list.list(&filter);
        let next = match (more, entries.last()) {
            (true, Some(last)) => encode_block_token(last.id),
            _ => String::new(),
        };
        Ok(Response::new(proto::ListBlocksResponse {
            entries: entries.iter().map(Into::into).collect(),
            next_page_token: next,
            total: list.len() as u64,
            max_entries: list.max_entries() as u64,
            generation: list.generation(),
            worker_generations: list.worker_generations(),
        }))
    }

    async fn get(
        &self,
        request: Request<proto::BlockRef>,
    ) -> Result<Response<proto::BlockEntry>, Status> {
        let ctx = self.ctx.clone();
        let id = request.get_ref().id;
        ctx.auth.authorize(
            &request,
            &format!("{SVC}/Get"),
            &id.to_string(),
            Role::Viewer,
        )?;
        Ok(Response::new((&ctx.blocks.get(id)?).into()))
    }

    async fn remove(
        &self,
        request: Request<proto::BlockRef>,
    ) -> Result<Response<proto::RemoveBlockResponse>, Status> {
        let ctx = self.ctx.clone();
        let method = format!("{SVC}/Remove");
        let id = request.get_ref().id;
        let target = id.to_string();
        let who = ctx
            .auth
            .authorize(&request, &method, &target, Role::Operator)?;
        let list = ctx.blocks.clone();
        let res = blocking(move || list.remove(id)).await;
        ctx.auth.audit(&who, &method, &target, &res);
        let (entry, generation) = res?;
        self.confirm(generation).await?;
        Ok(Response::new(proto::RemoveBlockResponse {
            entry: Some((&entry).into()),
            generation,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode_block_token(&encode_block_token(42)).unwrap(), 42);
        assert_eq!(decode_block_token("").unwrap(), 0);
        assert!(decode_block_token(&super::super::encode_rule_token(1, 2)).is_err());
        assert!(decode_block_token("zz").is_err());
    }
}
