//! `osprey.v1.EvidenceService`: incident evidence and its chain of custody
//! ([`crate::evidence`]). Who collects, views, exports or verifies is the caller's identity,
//! written into the custody log (and, for collecting and exporting, the audit log).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::api::auth::Role;
use crate::error::{Error, Kind, Result};
use crate::evidence::{Act, Evidence, Item};
use crate::proto;
use crate::proto::evidence_service_server::EvidenceService;

use super::{blocking, ApiContext};

const SVC: &str = "osprey.v1.EvidenceService";

/// The service; cheap to clone.
#[derive(Clone, Debug)]
pub struct EvidenceApi {
    pub ctx: Arc<ApiContext>,
}

impl From<&Item> for proto::EvidenceItem {
    fn from(i: &Item) -> Self {
        proto::EvidenceItem {
            id: i.item,
            incident_id: i.incident,
            kind: i.kind.clone(),
            file: i.file.clone(),
            sha256: i.sha256.clone(),
            size: i.size,
            collected_by: i.who.clone(),
            collected_ns: i.time_ns,
            note: i.note.clone(),
        }
    }
}

impl EvidenceApi {
    fn evidence(&self) -> Result<Arc<Evidence>> {
        self.ctx
            .evidence
            .clone()
            .ok_or_else(|| Error::new(Kind::Unavailable, "[evidence] is disabled"))
    }
}

#[tonic::async_trait]
impl EvidenceService for EvidenceApi {
    async fn collect(
        &self,
        request: Request<proto::CollectEvidenceRequest>,
    ) -> Result<Response<proto::CollectEvidenceResponse>, Status> {
        let method = format!("{SVC}/Collect");
        let id = request.get_ref().incident_id;
        let target = format!("incident {id}");
        let who = self
            .ctx
            .auth
            .authorize(&request, &method, &target, Role::Operator)?;
        let ev = self.evidence()?;
        let name = who.name.clone();
        let res = blocking(move || ev.collect_incident(id, &name)).await;
        self.ctx.auth.audit(&who, &method, &target, &res);
        Ok(Response::new(proto::CollectEvidenceResponse {
            items: res?.iter().map(Into::into).collect(),
        }))
    }

    async fn list(
        &self,
        request: Request<proto::ListEvidenceRequest>,
    ) -> Result<Response<proto::ListEvidenceResponse>, Status> {
        self.ctx
            .auth
            .authorize(&request, &format!("{SVC}/List"), "", Role::Viewer)?;
        let ev = self.evidence()?;
        let incident = request.get_ref().incident_id;
        let key = ev.public_key();
        let items = blocking(move || ev.list(incident)).await?;
        Ok(Response::new(proto::ListEvidenceResponse {
            items: items.iter().map(Into::into).collect(),
            public_key: key,
        }))
    }

    async fn export(
        &self,
        request: Request<proto::ExportEvidenceRequest>,
    ) -> Result<Response<proto::ExportEvidenceResponse>, Status> {
        let method = format!("{SVC}/Export");
        let r = *request.get_ref();
        let target = format!("item {}", r.id);
        let who = self
            .ctx
            .auth
            .authorize(&request, &method, &target, Role::Operator)?;
        let ev = self.evidence()?;
        let act = if r.view { Act::Viewed } else { Act::Exported };
        let name = who.name.clone();
        let res = blocking(move || ev.read_item(r.id, act, &name)).await;
        self.ctx.auth.audit(&who, &method, &target, &res);
        let (item, content, intact) = res?;
        Ok(Response::new(proto::ExportEvidenceResponse {
            item: Some((&item).into()),
            content,
            intact,
        }))
    }

    async fn verify(
        &self,
        request: Request<proto::VerifyEvidenceRequest>,
    ) -> Result<Response<proto::VerifyEvidenceResponse>, Status> {
        let who = self
            .ctx
            .auth
            .authorize(&request, &format!("{SVC}/Verify"), "", Role::Viewer)?;
        let ev = self.evidence()?;
        let rep = blocking(move || ev.verify(&who.name)).await?;
        Ok(Response::new(proto::VerifyEvidenceResponse {
            ok: rep.ok(),
            entries: rep.entries,
            items: rep.items,
            broken_link: rep.broken_link.clone().unwrap_or_default(),
            altered_items: rep.altered_items,
        }))
    }
}
