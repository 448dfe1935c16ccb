//! Stream → app layer: reassembled stream data goes to the flow's parser, then to stream
//! inspection.

use crate::app::{AppConfig, AppCounters, AppLayer, AppProto};
use crate::flow::{self, FlowHandle, StreamSink};
use crate::time::Timestamp;

use super::flow_state::AppStates;
use super::stream_inspect::StreamDetect;

/// Routes reassembled stream data to the flow's app layer.
pub(super) struct StreamToApp<'a, 'p> {
    pub(super) apps: &'a mut AppStates,
    pub(super) cfg: &'a AppConfig,
    pub(super) counters: &'a mut AppCounters,
    pub(super) now: Timestamp,
    /// Stream inspection, when detection runs.
    pub(super) detect: Option<StreamDetect<'a, 'p>>,
}

impl StreamSink for StreamToApp<'_, '_> {
    fn data(&mut self, flow: FlowHandle, dir: flow::Direction, offset: u64, data: &[u8]) {
        let ftp_expect = &mut self.apps.ftp_expect;
        let Some(slot) = self
            .apps
            .slots
            .get_mut(flow.slot())
            .filter(|s| s.id == flow.id)
        else {
            return;
        };
        // An announced FTP data connection is known by its first byte (it may open before
        // the command that uses it).
        if !ftp_expect.is_empty()
            && slot
                .app
                .as_ref()
                .is_some_and(|a| a.proto() == AppProto::Unknown)
        {
            if let Some(origin) =
                ftp_expect.claim(&slot.tuple, self.now, &mut self.counters.ftp_expect)
            {
                let app = AppLayer::ftp_data(self.cfg, origin, self.counters);
                slot.app = Some(app);
            }
        }
        // The app layer first: the stream inspection then knows the protocol.
        if let Some(app) = slot.app.as_mut() {
            app.on_stream(self.cfg, dir, data, self.now, self.counters);
            if let Some(p) = app.take_ftp_expectation() {
                ftp_expect.add(
                    &slot.tuple,
                    slot.id.0,
                    p,
                    self.now,
                    &mut self.counters.ftp_expect,
                );
            }
        }
        if let Some(sd) = self.detect.as_mut() {
            sd.data(slot, flow, dir, offset, data, self.now);
        }
    }
    fn gap(&mut self, flow: FlowHandle, dir: flow::Direction, _offset: u64, len: u64) {
        if let Some(app) = self.apps.get_mut(flow).and_then(|s| s.app.as_mut()) {
            app.on_gap(dir, len, self.counters);
        }
    }
    fn end(&mut self, flow: FlowHandle, dir: flow::Direction) {
        if let Some(app) = self.apps.get_mut(flow).and_then(|s| s.app.as_mut()) {
            app.on_end(self.cfg, dir, self.now, self.counters);
        }
    }
    fn flow_ended(&mut self, flow: FlowHandle) {
        self.apps.flow_ended(flow);
    }
}
