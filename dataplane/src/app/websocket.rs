//! WebSocket frames (RFC 6455 §5.2) after an HTTP/1.1 `Upgrade: websocket` + `101`:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! Each frame is a transaction whose `websocket.payload` is the unmasked payload (kept up to
//! [`AppConfig::websocket_max_payload`](super::AppConfig) bytes) and `websocket.opcode` its
//! opcode. The header is collected byte by byte, so any chunking parses the same.

use std::collections::VecDeque;

use super::{AppEvent, Direction, EventSet};

/// Frames kept per direction for inspection; older ones are recycled.
pub const MAX_FRAMES: usize = 16;

/// One frame.
#[derive(Clone, Debug, Default)]
pub struct WsFrame {
    /// Frame sequence number within the flow (both directions, in arrival order).
    pub id: u64,
    /// FIN bit.
    pub fin: bool,
    /// Opcode (0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong).
    pub opcode: u8,
    /// MASK bit.
    pub masked: bool,
    /// The masking key as a big-endian number (EVE `mask`), when masked.
    pub mask: Option<u32>,
    /// Declared payload length.
    pub payload_len: u64,
    /// Unmasked payload, up to the configured cap.
    pub payload: Vec<u8>,
    /// The whole payload arrived.
    pub complete: bool,
    /// Not yet inspected by the detection stage.
    pub changed: bool,
    /// Already written as an EVE `websocket` record.
    pub logged: bool,
}

/// Parser of one direction's frame stream.
#[derive(Debug, Default)]
pub struct WsParser {
    hdr: [u8; 14],
    hdr_len: usize,
    remaining: u64,
    mask: [u8; 4],
    offset: u64,
    in_payload: bool,
    frames: VecDeque<WsFrame>,
    pool: Vec<WsFrame>,
    /// Id the next frame gets (the HTTP state shares one sequence between directions).
    pub(crate) next_id: u64,
    /// Frames recycled before they were logged (see [`WsFrame::logged`]).
    pub unlogged_recycled: u64,
}

fn header_len(b0_b1: &[u8]) -> usize {
    let l7 = b0_b1[1] & 0x7f;
    let ext = match l7 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b0_b1[1] & 0x80 != 0 { 4 } else { 0 }
}

impl WsParser {
    /// Frames of this direction, oldest first.
    pub fn frames(&self) -> impl Iterator<Item = &WsFrame> {
        self.frames.iter()
    }

    /// Mutable frames (the detection stage clears `changed`).
    pub fn frames_mut(&mut self) -> impl Iterator<Item = &mut WsFrame> {
        self.frames.iter_mut()
    }

    /// The frame with `id`, if still kept.
    pub fn frame(&self, id: u64) -> Option<&WsFrame> {
        self.frames.iter().find(|f| f.id == id)
    }

    /// The oldest frame due for its EVE record (complete, or any with `at_end`), marked logged.
    pub(crate) fn next_unlogged(&mut self, at_end: bool) -> Option<u64> {
        let f = self
            .frames
            .iter_mut()
            .find(|f| !f.logged && (at_end || f.complete))?;
        f.logged = true;
        Some(f.id)
    }

    /// Parses stream bytes; returns the number of frames completed.
    pub fn parse(
        &mut self,
        _dir: Direction,
        mut data: &[u8],
        max_payload: usize,
        events: &mut EventSet,
    ) -> usize {
        let mut done = 0;
        // Each iteration consumes at least one byte or ends the loop.
        while !data.is_empty() {
            if !self.in_payload {
                let need = if self.hdr_len < 2 {
                    2
                } else {
                    header_len(&self.hdr[..2])
                };
                let take = (need - self.hdr_len).min(data.len());
                self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&data[..take]);
                self.hdr_len += take;
                data = &data[take..];
                if self.hdr_len < 2 {
                    continue;
                }
                let need = header_len(&self.hdr[..2]);
                if self.hdr_len < need {
                    continue;
                }
                self.start_frame(max_payload, events);
                if self.remaining == 0 {
                    self.finish_frame();
                    done += 1;
                }
                continue;
            }
            let n = (self.remaining.min(data.len() as u64)) as usize;
            let (chunk, rest) = data.split_at(n);
            data = rest;
            self.remaining -= n as u64;
            if let Some(f) = self.frames.back_mut() {
                let room = max_payload.saturating_sub(f.payload.len()).min(chunk.len());
                let mask = self.mask;
                let masked = f.masked;
                let base = self.offset;
                f.payload
                    .extend(chunk[..room].iter().enumerate().map(|(i, b)| {
                        if masked {
                            b ^ mask[((base + i as u64) % 4) as usize]
                        } else {
                            *b
                        }
                    }));
                f.changed = true;
            }
            self.offset += n as u64;
            if self.remaining == 0 {
                self.finish_frame();
                done += 1;
            }
        }
        done
    }

    fn start_frame(&mut self, max_payload: usize, events: &mut EventSet) {
        let h = &self.hdr;
        let fin = h[0] & 0x80 != 0;
        let opcode = h[0] & 0x0f;
        let masked = h[1] & 0x80 != 0;
        let (len, mut pos) = match h[1] & 0x7f {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[2..10]);
                (u64::from_be_bytes(b), 10)
            }
            l => (u64::from(l), 2),
        };
        if masked {
            self.mask.copy_from_slice(&h[pos..pos + 4]);
            pos += 4;
        }
        let _ = pos;
        if !matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10) {
            events.push(AppEvent::WebSocketInvalidOpcode);
        }
        if len > max_payload as u64 {
            events.push(AppEvent::WebSocketTooLongPayload);
        }
        if self.frames.len() == MAX_FRAMES {
            if let Some(old) = self.frames.pop_front() {
                if !old.logged {
                    self.unlogged_recycled += 1;
                }
                self.pool.push(old);
            }
        }
        let mut f = self.pool.pop().unwrap_or_default();
        f.payload.clear();
        f.id = self.next_id;
        self.next_id += 1;
        f.fin = fin;
        f.opcode = opcode;
        f.masked = masked;
        f.mask = masked.then(|| u32::from_be_bytes(self.mask));
        f.logged = false;
        f.payload_len = len;
        f.complete = false;
        f.changed = true;
        self.frames.push_back(f);
        self.remaining = len;
        self.offset = 0;
        self.in_payload = true;
        self.hdr_len = 0;
    }

    fn finish_frame(&mut self) {
        if let Some(f) = self.frames.back_mut() {
            f.complete = true;
            f.changed = true;
        }
        self.in_payload = false;
        self.hdr_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6455 §5.7: a single-frame masked text message "Hello".
    const MASKED_HELLO: [u8; 11] = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];

    #[test]
    fn rfc_examples_any_split() {
        for split in 0..=MASKED_HELLO.len() {
            let mut p = WsParser::default();
            let mut ev = EventSet::default();
            let n = p.parse(Direction::ToServer, &MASKED_HELLO[..split], 1024, &mut ev)
                + p.parse(Direction::ToServer, &MASKED_HELLO[split..], 1024, &mut ev);
            assert_eq!(n, 1);
            let f = p.frames().next().unwrap();
            assert_eq!(f.payload, b"Hello");
            assert_eq!(f.opcode, 1);
            assert!(f.fin && f.masked && f.complete);
        }
        // Unmasked "Hel" + "lo" fragments (RFC 6455 §5.7).
        let mut p = WsParser::default();
        let mut ev = EventSet::default();
        let n = p.parse(
            Direction::ToClient,
            &[0x01, 0x03, b'H', b'e', b'l', 0x80, 0x02, b'l', b'o'],
            1024,
            &mut ev,
        );
        assert_eq!(n, 2);
        let v: Vec<_> = p.frames().map(|f| (f.opcode, f.payload.clone())).collect();
        assert_eq!(v, vec![(1, b"Hel".to_vec()), (0, b"lo".to_vec())]);
    }

    #[test]
    fn long_payload_capped_and_bad_opcode() {
        let mut p = WsParser::default();
        let mut ev = EventSet::default();
        let mut frame = vec![0x83, 126, 0x01, 0x00];
        frame.extend(std::iter::repeat_n(b'x', 256));
        assert_eq!(p.parse(Direction::ToClient, &frame, 100, &mut ev), 1);
        assert_eq!(p.frames().next().unwrap().payload.len(), 100);
        assert!(ev.contains(AppEvent::WebSocketTooLongPayload));
        assert!(ev.contains(AppEvent::WebSocketInvalidOpcode));
    }

    #[test]
    fn frames_are_bounded() {
        let mut p = WsParser::default();
        let mut ev = EventSet::default();
        for _ in 0..100 {
            p.parse(Direction::ToClient, &[0x89, 0x00], 16, &mut ev);
        }
        assert_eq!(p.frames().count(), MAX_FRAMES);
        assert_eq!(p.frames().last().unwrap().id, 99);
    }
}
