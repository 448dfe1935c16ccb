//! The `pop3` object of EVE records, as Suricata 8 writes it:
//! `{"request":{"command","args":[]},"response":{"success","status","header","data":[]}}`.

use super::{Pop3Tx, Status};
use crate::eve::Json;

/// `"pop3": {...}`.
pub fn write_pop3(j: &mut Json<'_>, tx: &Pop3Tx) {
    j.object("pop3");
    if tx.has_request {
        j.object("request");
        j.bytes("command", &tx.command);
        j.array("args");
        for a in tx.args() {
            j.sep().value_bytes(a);
        }
        j.close_array();
        j.close();
    }
    if tx.has_response {
        j.object("response");
        j.bool("success", tx.status == Status::Ok);
        j.str(
            "status",
            match tx.status {
                Status::Ok => "OK",
                Status::Err => "ERR",
            },
        );
        j.bytes("header", &tx.header);
        j.array("data");
        for d in tx.data() {
            j.sep().value_bytes(d);
        }
        j.close_array();
        j.close();
    }
    j.close();
}
