//! `osprey.v1.PlaybookService`: the playbooks in force ([`crate::playbooks`]), a dry-run
//! test of one on a stored incident, reload, and rollback of an incident's playbook blocks.
//! Without incidents (`[incidents] enabled = false`) every call is UNAVAILABLE.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::api::auth::Role;
use crate::error::{Error, Kind, Result};
use crate::playbooks::{ActionRecord, PlaybooksShared};
use crate::proto;
use crate::proto::playbook_service_server::PlaybookService;

use super::ApiContext;

const SVC: &str = "osprey.v1.PlaybookService";

/// The service; cheap to clone.
#[derive(Clone, Debug)]
pub struct PlaybooksApi {
    pub ctx: Arc<ApiContext>,
}

impl From<&ActionRecord> for proto::ResponseAction {
    fn from(r: &ActionRecord) -> Self {
        proto::ResponseAction {
            time_ns: r.time_ns,
            playbook: r.playbook.clone(),
            action: r.action.clone(),
            outcome: r.outcome.as_str().into(),
            detail: r.detail.clone(),
            block_ids: r.block_ids.clone(),
            rolled_back: r.rolled_back,
            artefact_sha256: r.artefact_sha256.clone(),
        }
    }
}

impl PlaybooksApi {
    fn engine(&self) -> Result<Arc<PlaybooksShared>> {
        self.ctx.playbooks.clone().ok_or_else(|| {
            Error::new(
                Kind::Unavailable,
                "playbooks need incidents: [incidents] enabled is false",
            )
        })
    }
}

#[tonic::async_trait]
impl PlaybookService for PlaybooksApi {
    async fn list(
        &self,
        request: Request<proto::ListPlaybooksRequest>,
    ) -> Result<Response<proto::ListPlaybooksResponse>, Status> {
        self.ctx
            .auth
            .authorize(&request, &format!("{SVC}/List"), "", Role::Viewer)?;
        let e = self.engine()?;
        let playbooks = e
            .current()
            .iter()
            .map(|p| proto::PlaybookSummary {
                name: p.name.clone(),
                enabled: p.enabled,
                dry_run: p.dry_run,
                condition: toml::to_string(&p.when)
                    .unwrap_or_default()
                    .trim()
                    .replace('\n', "; "),
                actions: p.steps.iter().map(|s| s.action.name().into()).collect(),
            })
            .collect();
        let reload_error = e
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default();
        Ok(Response::new(proto::ListPlaybooksResponse {
            playbooks,
            dry_run: e.dry_run(),
            reload_error,
        }))
    }

    async fn show(
        &self,
        request: Request<proto::PlaybookRef>,
    ) -> Result<Response<proto::PlaybookText>, Status> {
        let name = request.get_ref().name.clone();
        self.ctx
            .auth
            .authorize(&request, &format!("{SVC}/Show"), &name, Role::Viewer)?;
        let e = self.engine()?;
        let set = e.current();
        let p = set
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::not_found(format!("playbook {name:?}")))?;
        #[derive(serde::Serialize)]
        struct One<'a> {
            playbooks: [&'a crate::playbooks::PlaybookConfig; 1],
        }
        let text = toml::to_string(&One {
            playbooks: [&p.source],
        })
        .map_err(|e| Error::internal(e.to_string()))?;
        Ok(Response::new(proto::PlaybookText { name, toml: text }))
    }

    async fn test(
        &self,
        request: Request<proto::TestPlaybookRequest>,
    ) -> Result<Response<proto::TestPlaybookResponse>, Status> {
        let r = request.get_ref().clone();
        self.ctx.auth.authorize(
            &request,
            &format!("{SVC}/Test"),
            &format!("{} {}", r.name, r.incident_id),
            Role::Viewer,
        )?;
        let ev = self.engine()?.test(&r.name, r.incident_id).await?;
        let (matched, reasons) = match ev.condition {
            Ok(held) => (true, held),
            Err(why) => (false, vec![why]),
        };
        Ok(Response::new(proto::TestPlaybookResponse {
            matched,
            reasons,
            actions: ev.records.iter().map(Into::into).collect(),
        }))
    }

    async fn reload(
        &self,
        request: Request<proto::ReloadPlaybooksRequest>,
    ) -> Result<Response<proto::ReloadPlaybooksResponse>, Status> {
        let method = format!("{SVC}/Reload");
        let who = self
            .ctx
            .auth
            .authorize(&request, &method, "", Role::Admin)?;
        let e = self.engine()?;
        let res = super::blocking(move || {
            e.reload()
                .map_err(|m| Error::new(Kind::FailedPrecondition, m))
        })
        .await;
        self.ctx.auth.audit(&who, &method, "", &res);
        Ok(Response::new(proto::ReloadPlaybooksResponse {
            playbooks: u32::try_from(res?).unwrap_or(u32::MAX),
        }))
    }

    async fn rollback(
        &self,
        request: Request<proto::RollbackRequest>,
    ) -> Result<Response<proto::RollbackResponse>, Status> {
        let method = format!("{SVC}/Rollback");
        let id = request.get_ref().incident_id;
        let target = format!("incident {id}");
        let who = self
            .ctx
            .auth
            .authorize(&request, &method, &target, Role::Operator)?;
        let e = self.engine()?;
        let res = e.rollback(id, &who.name).await;
        self.ctx.auth.audit(&who, &method, &target, &res);
        Ok(Response::new(proto::RollbackResponse { removed: res? }))
    }
}
