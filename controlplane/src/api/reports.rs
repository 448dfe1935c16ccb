//! `osprey.v1.ReportService`: executive-summary reports ([`crate::reports`]). Generating is
//! an operator's call and audited; listing and reading are a viewer's.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::api::auth::Role;
use crate::error::Error;
use crate::proto;
use crate::proto::report_service_server::ReportService;
use crate::reports::{Format, ReportMeta};

use super::{blocking, ApiContext};

const SVC: &str = "osprey.v1.ReportService";

/// The service; cheap to clone.
#[derive(Clone, Debug)]
pub struct ReportsApi {
    pub ctx: Arc<ApiContext>,
}

impl From<&ReportMeta> for proto::ReportInfo {
    fn from(m: &ReportMeta) -> Self {
        proto::ReportInfo {
            id: m.id,
            from_ns: m.from_ns,
            to_ns: m.to_ns,
            format: m.format.as_str().into(),
            size: m.size,
            sha256: m.sha256.clone(),
            created_ns: m.created_ns,
            origin: m.origin.clone(),
        }
    }
}

fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[tonic::async_trait]
impl ReportService for ReportsApi {
    async fn generate(
        &self,
        request: Request<proto::GenerateReportRequest>,
    ) -> Result<Response<proto::GenerateReportResponse>, Status> {
        let method = format!("{SVC}/Generate");
        let r = request.get_ref().clone();
        let target = format!("{} {}..{}", r.format, r.from_ns, r.to_ns);
        let who = self
            .ctx
            .auth
            .authorize(&request, &method, &target, Role::Operator)?;
        let reports = self.ctx.reports.clone();
        let origin = who.name.clone();
        let res = blocking(move || {
            let format = Format::parse(&r.format)?;
            let range = reports.range(r.from_ns, r.to_ns)?;
            reports.generate(range, format, &origin, wall_ns())
        })
        .await;
        self.ctx.auth.audit(&who, &method, &target, &res);
        let (meta, content) = res?;
        Ok(Response::new(proto::GenerateReportResponse {
            report: Some((&meta).into()),
            content,
        }))
    }

    async fn list(
        &self,
        request: Request<proto::ListReportsRequest>,
    ) -> Result<Response<proto::ListReportsResponse>, Status> {
        self.ctx
            .auth
            .authorize(&request, &format!("{SVC}/List"), "", Role::Viewer)?;
        let limit = self.ctx.page_size(request.get_ref().limit)?;
        let store = self.ctx.store.clone();
        let list = blocking(move || store.list_reports(limit)).await?;
        Ok(Response::new(proto::ListReportsResponse {
            reports: list.iter().map(Into::into).collect(),
        }))
    }

    async fn get(
        &self,
        request: Request<proto::GetReportRequest>,
    ) -> Result<Response<proto::GetReportResponse>, Status> {
        let id = request.get_ref().id;
        self.ctx.auth.authorize(
            &request,
            &format!("{SVC}/Get"),
            &format!("report {id}"),
            Role::Viewer,
        )?;
        let store = self.ctx.store.clone();
        let (meta, content) = blocking(move || store.get_report(id))
            .await?
            .ok_or_else(|| Error::not_found(format!("report {id}")))?;
        Ok(Response::new(proto::GetReportResponse {
            report: Some((&meta).into()),
            content,
        }))
    }
}
