//! The `ftp` and `ftp_data` EVE objects, field for field as Suricata 8 writes them
//! (`output-json-ftp.c`): `command`, `command_data` and `command_truncated` (when the request
//! had an argument), `completion_code` and `reply` (one element per reply line),
//! `dynamic_port` and `mode` (when a port was announced), `reply_received`,
//! `reply_truncated`; for a data flow its `filename` and the command (RETR or STOR).

use super::data::FtpDataState;
use super::parser::Command;
use super::{split_code, FtpTx};
use crate::eve::Json;

/// `"ftp": {...}` of one transaction.
pub fn write_ftp(j: &mut Json<'_>, tx: &FtpTx) {
    j.object("ftp");
    ftp_fields(j, tx);
    j.close();
}

/// The fields of the `ftp` object.
pub fn ftp_fields(j: &mut Json<'_>, tx: &FtpTx) {
    if let Some(c) = tx.command {
        j.str("command", c.name());
        if tx.request().len() > c.name().len() + 1 {
            j.bytes("command_data", tx.command_data());
            j.bool("command_truncated", tx.request_truncated);
        }
    }
    if tx.reply_lines().any(|l| split_code(l).0.is_some()) {
        j.array("completion_code");
        for code in tx.reply_lines().filter_map(|l| split_code(l).0) {
            j.sep().value_bytes(code);
        }
        j.close_array();
    }
    if tx.reply_count() > 0 {
        j.array("reply");
        for l in tx.reply_lines() {
            j.sep().value_bytes(split_code(l).1);
        }
        j.close_array();
    }
    if tx.dyn_port != 0 {
        j.u64("dynamic_port", u64::from(tx.dyn_port));
        j.str("mode", if tx.active { "active" } else { "passive" });
    }
    j.str("reply_received", if tx.done { "yes" } else { "no" });
    j.bool("reply_truncated", tx.reply_truncated);
}

/// `"ftp_data": {...}` of a data flow.
pub fn write_ftp_data(j: &mut Json<'_>, s: &FtpDataState) {
    j.object("ftp_data");
    ftp_data_fields(j, s);
    j.close();
}

/// The fields of the `ftp_data` object: Suricata names only RETR and STOR.
pub fn ftp_data_fields(j: &mut Json<'_>, s: &FtpDataState) {
    if !s.origin.name.is_empty() {
        j.bytes("filename", &s.origin.name);
    }
    if let Some(c @ (Command::Retr | Command::Stor)) = s.origin.command {
        j.str("command", c.name());
    }
}
