//! `osprey.v1.AlertsService` and `osprey.v1.FlowsService`: stored records and the live tail.

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::api::auth::Role;
use crate::events::{Event, Interest, Policy};
use crate::proto;
use crate::proto::alerts_service_server::AlertsService;
use crate::proto::flows_service_server::FlowsService;
use crate::store::{AlertFilter, FlowFilter, Order};

use super::{blocking, check_range, decode_key_token, encode_key_token, parse_address, ApiContext};

/// Alerts; cheap to clone.
#[derive(Clone, Debug)]
pub struct AlertsApi {
    pub ctx: Arc<ApiContext>,
}

/// Flows; cheap to clone.
#[derive(Clone, Debug)]
pub struct FlowsApi {
    pub ctx: Arc<ApiContext>,
}

fn order(oldest_first: bool) -> Order {
    if oldest_first {
        Order::OldestFirst
    } else {
        Order::NewestFirst
    }
}

/// Alerts a tail's gRPC stream may hold before the tail's task waits for the client (the
/// event stream's own queue, `ingest.subscriber_buffer`, drops beyond that).
const TAIL_QUEUE: usize = 1024;

/// The tails' name on the event stream (`events.tail.*` counters).
pub const TAIL_CONSUMER: &str = "tail";

type AlertStream = Pin<Box<dyn Stream<Item = Result<proto::Alert, Status>> + Send>>;

#[tonic::async_trait]
impl AlertsService for AlertsApi {
    async fn query(
        &self,
        request: Request<proto::AlertQuery>,
    ) -> Result<Response<proto::AlertPage>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, "osprey.v1.AlertsService/Query", "", Role::Viewer)?;
        let q = request.into_inner();
        check_range(q.start_ns, q.end_ns)?;
        let filter = AlertFilter {
            start_ns: q.start_ns,
            end_ns: q.end_ns,
            sid: q.sid,
            address: parse_address("address", &q.address)?,
            order: order(q.oldest_first),
            after: decode_key_token(&q.page_token)?,
            limit: ctx.page_size(q.page_size)?,
        };
        let store = ctx.store.clone();
        let page = blocking(move || store.query_alerts(&filter)).await?;
        Ok(Response::new(proto::AlertPage {
            alerts: page.items.iter().map(proto::Alert::from).collect(),
            next_page_token: page.next.map(encode_key_token).unwrap_or_default(),
        }))
    }

    type TailStream = AlertStream;

    async fn tail(
        &self,
        request: Request<proto::TailRequest>,
    ) -> Result<Response<Self::TailStream>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, "osprey.v1.AlertsService/Tail", "", Role::Viewer)?;
        let q = request.into_inner();
        let address = parse_address("address", &q.address)?;
        let sid = q.sid;
        let mut sub = ctx.events.subscribe(
            TAIL_CONSUMER,
            Interest::ALERTS,
            Policy::Drop,
            ctx.subscriber_buffer,
        );
        let mut shutdown = ctx.shutdown.subscribe();
        let (tx, out) = tokio::sync::mpsc::channel(TAIL_QUEUE);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = super::until_shutdown(&mut shutdown) => break,
                    ev = sub.recv() => match ev {
                        Some(Event::Alert(a)) => {
                            if sid.is_some_and(|s| a.sid != s)
                                || address.is_some_and(|ip| a.src_ip != ip && a.dst_ip != ip)
                            {
                                continue;
                            }
                            if tx.send(Ok(proto::Alert::from(&*a))).await.is_err() {
                                break; // the client went away
                            }
                        }
                        Some(_) => {}
                        None => break,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out),
        )))
    }
}

#[tonic::async_trait]
impl FlowsService for FlowsApi {
    async fn query(
        &self,
        request: Request<proto::FlowQuery>,
    ) -> Result<Response<proto::FlowPage>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, "osprey.v1.FlowsService/Query", "", Role::Viewer)?;
        let q = request.into_inner();
        check_range(q.start_ns, q.end_ns)?;
        let filter = FlowFilter {
            start_ns: q.start_ns,
            end_ns: q.end_ns,
            address: parse_address("address", &q.address)?,
            app_proto: (!q.app_proto.trim().is_empty()).then(|| q.app_proto.trim().to_owned()),
            order: order(q.oldest_first),
            after: decode_key_token(&q.page_token)?,
            limit: ctx.page_size(q.page_size)?,
        };
        let store = ctx.store.clone();
        let page = blocking(move || store.query_flows(&filter)).await?;
        Ok(Response::new(proto::FlowPage {
            flows: page.items.iter().map(proto::Flow::from).collect(),
            next_page_token: page.next.map(encode_key_token).unwrap_or_default(),
        }))
    }
}
