//! `osprey.v1.AuditService`: reading the audit log, filtered and paged. Admin only.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::api::auth::Role;
use crate::error::Error;
use crate::model::AuditRecord;
use crate::proto;
use crate::proto::audit_service_server::AuditService;
use crate::store::AuditFilter;

use super::{blocking, check_range, ApiContext};

const TOKEN_AUDIT: u8 = b'u';

/// The service; cheap to clone.
#[derive(Clone, Debug)]
pub struct AuditApi {
    pub ctx: Arc<ApiContext>,
}

/// Opaque page token for an audit listing.
pub fn encode_audit_token(key: [u8; 16]) -> String {
    let mut b = Vec::with_capacity(17);
    b.push(TOKEN_AUDIT);
    b.extend_from_slice(&key);
    hex::encode(b)
}

/// Parses a token from [`encode_audit_token`]; empty means the first page.
pub fn decode_audit_token(token: &str) -> crate::error::Result<Option<[u8; 16]>> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || Error::invalid("page_token is not one this server issued");
    let b = hex::decode(token).map_err(|_| bad())?;
    match b.split_first() {
        Some((&TOKEN_AUDIT, rest)) => <[u8; 16]>::try_from(rest).map(Some).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

fn entry(r: &AuditRecord) -> proto::AuditEntry {
    proto::AuditEntry {
        time_ns: r.time_nanos,
        who: r.who.clone(),
        role: r.role.clone(),
        method: r.method.clone(),
        target: r.target.clone(),
        result: r.result.clone(),
        detail: r.detail.clone(),
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list(
        &self,
        request: Request<proto::ListAuditRequest>,
    ) -> Result<Response<proto::ListAuditResponse>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, "osprey.v1.AuditService/List", "", Role::Admin)?;
        let q = request.into_inner();
        check_range(q.since_ns, q.until_ns)?;
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let filter = AuditFilter {
            since_ns: q.since_ns,
            until_ns: q.until_ns,
            who: text(&q.who),
            method: text(&q.method),
            oldest_first: q.oldest_first,
            after: decode_audit_token(&q.page_token)?,
            limit: ctx.page_size(q.page_size)?,
        };
        let store = ctx.store.clone();
        let page = blocking(move || store.query_audit(&filter)).await?;
        Ok(Response::new(proto::ListAuditResponse {
            entries: page.items.iter().map(|(_, r)| entry(r)).collect(),
            next_page_token: page.next.map(encode_audit_token).unwrap_or_default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        let k = [7u8; 16];
        assert_eq!(decode_audit_token(&encode_audit_token(k)).unwrap(), Some(k));
        assert_eq!(decode_audit_token("").unwrap(), None);
        assert!(decode_audit_token(&super::super::encode_rule_token(1, 2)).is_err());
        assert!(decode_audit_token("zz").is_err());
    }
}
