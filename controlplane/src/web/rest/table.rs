//! Every route of the REST API, one line per gRPC method (see [`rpc!`]), grouped by
//! service. A new gRPC method gets its route here; `every_grpc_method_has_a_route` fails
//! until it does.

use super::alerts::FLOW_PARAMS;
use super::{param, Kind, Needs, Param, Route, PAGE_SIZE, PAGE_TOKEN};
use crate::api::audit::AuditApi;
use crate::api::blocks::BlocksApi;
use crate::api::evidence::EvidenceApi;
use crate::api::incidents::IncidentsApi;
use crate::api::intel::IntelApi;
use crate::api::outputs::OutputsApi;
use crate::api::playbooks::PlaybooksApi;
use crate::api::records::FlowsApi;
use crate::api::reports::ReportsApi;
use crate::api::rules::RulesApi;
use crate::api::system::SystemApi;
use crate::model::Role;
use crate::proto::audit_service_server::AuditService;
use crate::proto::block_service_server::BlockService;
use crate::proto::evidence_service_server::EvidenceService;
use crate::proto::flows_service_server::FlowsService;
use crate::proto::incident_service_server::IncidentService;
use crate::proto::intel_service_server::IntelService;
use crate::proto::output_service_server::OutputService;
use crate::proto::playbook_service_server::PlaybookService;
use crate::proto::report_service_server::ReportService;
use crate::proto::rules_service_server::RulesService;
use crate::proto::system_service_server::SystemService;

/// `GET /api/v1/rules`: `query` sets `text_contains`.
const RULE_PARAMS: &[Param] = &[
    Param {
        name: "query",
        field: "text_contains",
        kind: Kind::Str,
        doc: "Case-insensitive substring of the rule text.",
    },
    param("sid", Kind::U32, "Signature id."),
    param(
        "enabled",
        Kind::Bool,
        "Only enabled (true) or disabled (false) rules.",
    ),
    PAGE_SIZE,
    PAGE_TOKEN,
];

/// `GET /api/v1/audit`: `from_ns`/`to_ns` set `since_ns`/`until_ns`.
const AUDIT_PARAMS: &[Param] = &[
    Param {
        name: "from_ns",
        field: "since_ns",
        kind: Kind::U64,
        doc: "Inclusive lower bound, wall-clock ns since the epoch; 0 = unbounded.",
    },
    Param {
        name: "to_ns",
        field: "until_ns",
        kind: Kind::U64,
        doc: "Exclusive upper bound; 0 = unbounded.",
    },
    param("who", Kind::Str, "Identity."),
    param(
        "method",
        Kind::Str,
        "Method (osprey.v1.RulesService/Add, console/Preferences...).",
    ),
    param(
        "oldest_first",
        Kind::Bool,
        "Oldest first instead of newest first.",
    ),
    PAGE_SIZE,
    PAGE_TOKEN,
];

/// Every route, in the order the OpenAPI document lists them.
#[rustfmt::skip]
pub fn routes() -> Vec<Route> {
    use Needs::{Evidence, Incidents, Playbooks};
    let mut all = vec![
        rpc!(GET "/api/v1/status" => SystemService/Status, SystemApi.status),
        rpc!(GET "/api/v1/stats" => SystemService/Stats, SystemApi.stats),
        rpc!(POST "/api/v1/shutdown" => SystemService/Shutdown, SystemApi.shutdown),
    ];
    all.extend(super::system::routes());
    all.extend(super::alerts::routes());
    all.extend([
        rpc!(GET "/api/v1/flows" => FlowsService/Query, FlowsApi.query).params(FLOW_PARAMS),

        rpc!(GET "/api/v1/rules" => RulesService/List, RulesApi.list).params(RULE_PARAMS),
        rpc!(POST "/api/v1/rules" => RulesService/Add, RulesApi.add).rules_body(),
        rpc!(GET "/api/v1/rules/{gid}/{sid}" => RulesService/Get, RulesApi.get),
        rpc!(DELETE "/api/v1/rules/{gid}/{sid}" => RulesService/Delete, RulesApi.delete),
        rpc!(POST "/api/v1/rules/{gid}/{sid}/enable" => RulesService/Enable, RulesApi.enable),
        rpc!(POST "/api/v1/rules/{gid}/{sid}/disable" => RulesService/Disable, RulesApi.disable),
        rpc!(POST "/api/v1/rules/validate" => RulesService/Validate, RulesApi.validate).rules_body(),
        rpc!(POST "/api/v1/rules/reload" => RulesService/Reload, RulesApi.reload),
        rpc!(GET "/api/v1/rules/status" => RulesService/Status, RulesApi.status),

        rpc!(GET "/api/v1/incidents" => IncidentService/List, IncidentsApi.list).needs(Incidents),
        rpc!(GET "/api/v1/incidents/{id}" => IncidentService/Get, IncidentsApi.get).needs(Incidents),
        rpc!(PATCH "/api/v1/incidents/{id}" => IncidentService/Update, IncidentsApi.update).needs(Incidents),

        rpc!(GET "/api/v1/intel/feeds" => IntelService/ListFeeds, IntelApi.list_feeds),
        rpc!(GET "/api/v1/intel/indicators" => IntelService/ListIndicators, IntelApi.list_indicators),
        rpc!(GET "/api/v1/intel/hits" => IntelService/ListHits, IntelApi.list_hits),
        rpc!(GET "/api/v1/intel/hits/{hit}/related" => IntelService/Related, IntelApi.related),
        rpc!(POST "/api/v1/intel/hits/{hit}/verdict" => IntelService/Verdict, IntelApi.verdict),
        rpc!(GET "/api/v1/intel/stats" => IntelService/Stats, IntelApi.stats),
        rpc!(POST "/api/v1/intel/import" => IntelService/Import, IntelApi.import).rules_body(),
        rpc!(GET "/api/v1/intel/hunts" => IntelService/ListHunts, IntelApi.list_hunts),
        rpc!(POST "/api/v1/intel/hunts" => IntelService/Hunt, IntelApi.hunt),
        rpc!(GET "/api/v1/intel/export" => IntelService/Export, IntelApi.export),

        rpc!(GET "/api/v1/blocks" => BlockService/List, BlocksApi.list),
        rpc!(POST "/api/v1/blocks" => BlockService/Add, BlocksApi.add),
        rpc!(GET "/api/v1/blocks/{id}" => BlockService/Get, BlocksApi.get),
        rpc!(DELETE "/api/v1/blocks/{id}" => BlockService/Remove, BlocksApi.remove),

        rpc!(GET "/api/v1/audit" => AuditService/List, AuditApi.list).params(AUDIT_PARAMS).role(Role::Admin),

        rpc!(GET "/api/v1/playbooks" => PlaybookService/List, PlaybooksApi.list).needs(Playbooks),
        rpc!(POST "/api/v1/playbooks/reload" => PlaybookService/Reload, PlaybooksApi.reload).needs(Playbooks),
        rpc!(POST "/api/v1/playbooks/rollback" => PlaybookService/Rollback, PlaybooksApi.rollback).needs(Playbooks),
        rpc!(GET "/api/v1/playbooks/{name}" => PlaybookService/Show, PlaybooksApi.show).needs(Playbooks),
        rpc!(POST "/api/v1/playbooks/{name}/test" => PlaybookService/Test, PlaybooksApi.test).needs(Playbooks),

        rpc!(GET "/api/v1/evidence" => EvidenceService/List, EvidenceApi.list).needs(Evidence),
        rpc!(POST "/api/v1/evidence" => EvidenceService/Collect, EvidenceApi.collect).needs(Evidence),
        rpc!(POST "/api/v1/evidence/verify" => EvidenceService/Verify, EvidenceApi.verify).needs(Evidence),
        rpc!(POST "/api/v1/evidence/{id}/export" => EvidenceService/Export, EvidenceApi.export).needs(Evidence),

        rpc!(GET "/api/v1/outputs/deadletters" => OutputService/ListDeadLetters, OutputsApi.list_dead_letters),
        rpc!(POST "/api/v1/outputs/deadletters/retry" => OutputService/RetryDeadLetters, OutputsApi.retry_dead_letters),

        rpc!(GET "/api/v1/reports" => ReportService/List, ReportsApi.list),
        rpc!(POST "/api/v1/reports" => ReportService/Generate, ReportsApi.generate).field("report"),
    ]);
    all.extend(super::reports::routes());
    all.extend(super::preferences::routes());
    all
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::web::descriptor;
    use crate::web::rest::{Answer, STREAMED};

    /// Every gRPC method of every `osprey.v1` service has a REST route, or is a streaming
    /// method the WebSocket serves ([`STREAMED`]); every route names a method that exists.
    #[test]
    fn every_grpc_method_has_a_route() {
        let routes = super::super::routes();
        let routed: BTreeSet<&str> = routes.iter().filter_map(|r| r.grpc).collect();
        let index = descriptor::index();
        assert!(index.methods.len() > 40, "the descriptor set is read");
        let mut missing = Vec::new();
        for m in &index.methods {
            let streamed = STREAMED.iter().any(|(s, _)| *s == m.path);
            if streamed {
                assert!(
                    m.server_streaming,
                    "{} is listed as streamed but is unary",
                    m.path
                );
                assert!(
                    !routed.contains(m.path.as_str()),
                    "{} is streamed and routed",
                    m.path
                );
            } else if !routed.contains(m.path.as_str()) {
                missing.push(m.path.as_str());
            }
        }
        assert!(
            missing.is_empty(),
            "gRPC methods without a REST route: {missing:?}"
        );
        for g in &routed {
            assert!(
                index.method(g).is_some(),
                "route names {g}, which no service has"
            );
        }
    }

    /// The protos document every routed method: a summary and the least role.
    #[test]
    fn routes_are_documented_from_the_protos() {
        for r in super::super::routes() {
            assert!(!r.summary.is_empty(), "{r:?} has no summary");
            let Some(g) = r.grpc else { continue };
            let m = descriptor::index().method(g).unwrap();
            assert!(m.role().is_some(), "{g}: its comment names no `Role: ...`");
            if let Answer::Message(name) | Answer::Page(name) = r.answer {
                assert!(
                    descriptor::index().message(name).is_some(),
                    "{r:?} answers {name}"
                );
            }
        }
        let by = |m: &str, p: &str| {
            super::super::routes()
                .into_iter()
                .find(|r| r.method == m && r.path == p)
                .unwrap()
        };
        let rollback = by("POST", "/api/v1/playbooks/rollback");
        assert_eq!(
            (rollback.role, rollback.body),
            (Role::Operator, Some("RollbackRequest"))
        );
        let related = by("GET", "/api/v1/intel/hits/{hit}/related");
        let names: Vec<_> = related.params.iter().map(|p| p.name).collect();
        assert_eq!(names, ["window_secs", "limit"]);
        assert_eq!(related.answer, Answer::Message("RelatedResponse"));
        assert_eq!(
            by("GET", "/api/v1/blocks").answer,
            Answer::Page("BlockEntry")
        );
        assert_eq!(
            by("POST", "/api/v1/reports").answer,
            Answer::Message("ReportInfo")
        );
        assert_eq!(by("GET", "/api/v1/audit").role, Role::Admin);
    }
}
