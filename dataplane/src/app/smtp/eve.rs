//! The `smtp` and `email` objects of EVE records, as Suricata 8 writes them: `smtp` with
//! `helo`, `mail_from`, `rcpt_to`; `email` (only for a transaction that sent a message) with
//! `status`, `from`, `to` and `cc` split at commas outside quotes (empty ones left out),
//! `subject`, `date`, `message_id`, `x_mailer`, `received`, then `attachment` and `url` (the
//! URLs in Suricata's order: the last found first). Alerts on an SMTP transaction also carry
//! its attachments as `files`.

use super::tx::SmtpTx;
use super::SmtpState;
use crate::app::mime::Email;
use crate::eve::Json;

/// `"smtp": {...}` and, when the transaction sent a message, `"email": {...}`.
pub fn write_smtp(j: &mut Json<'_>, s: &SmtpState, tx: &SmtpTx) {
    j.object("smtp");
    if !s.helo.is_empty() {
        j.bytes("helo", &s.helo);
    }
    if !tx.mail_from.is_empty() {
        j.bytes("mail_from", &tx.mail_from);
    }
    if tx.rcpt(0).is_some() {
        j.array("rcpt_to");
        for r in tx.rcpt_to() {
            j.sep().value_bytes(r);
        }
        j.close_array();
    }
    j.close();
    if let Some(e) = s.email(tx) {
        write_email(j, e);
    }
}

fn write_email(j: &mut Json<'_>, e: &Email) {
    j.object("email");
    j.str("status", e.status.name());
    if !e.from.is_empty() {
        j.bytes("from", &e.from);
    }
    comma_list(j, "to", &e.to);
    comma_list(j, "cc", &e.cc);
    for (name, v) in [
        ("subject", &e.subject),
        ("date", &e.date),
        ("message_id", &e.message_id),
        ("x_mailer", &e.x_mailer),
    ] {
        if !v.is_empty() {
            j.bytes(name, v);
        }
    }
    list(j, "received", e.received.iter().map(Vec::as_slice));
    list(j, "attachment", e.attachments.iter().map(Vec::as_slice));
    list(j, "url", e.urls.iter().rev().map(Vec::as_slice));
    j.close();
}

fn list<'a>(j: &mut Json<'_>, name: &str, mut items: impl Iterator<Item = &'a [u8]>) {
    let Some(first) = items.next() else { return };
    j.array(name);
    j.sep().value_bytes(first);
    for v in items {
        j.sep().value_bytes(v);
    }
    j.close_array();
}

/// Splits an address list at commas outside double quotes, leading blanks trimmed, empty
/// entries dropped (Suricata's `log_field_comma`).
pub fn split_addresses(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = v;
    std::iter::from_fn(move || loop {
        let start = rest.iter().position(|&c| c != b' ' && c != b'\t')?;
        let r = &rest[start..];
        let mut quoted = false;
        let end = r
            .iter()
            .position(|&c| {
                if c == b'"' {
                    quoted = !quoted;
                }
                c == b',' && !quoted
            })
            .unwrap_or(r.len());
        let item = &r[..end];
        rest = r.get(end + 1..).unwrap_or_default();
        if !item.is_empty() {
            return Some(item);
        }
    })
}

fn comma_list(j: &mut Json<'_>, name: &str, v: &[u8]) {
    list(j, name, split_addresses(v));
}

/// `"files": [...]`: the transaction's attachments, as an alert carries them.
pub fn write_files(j: &mut Json<'_>, s: &SmtpState, tx: &SmtpTx) {
    let mut files = s.files().iter().filter(|f| f.tx_id == tx.id).peekable();
    if files.peek().is_none() {
        return;
    }
    j.array("files");
    for f in files {
        j.element_object();
        j.fileinfo_fields(&f.info());
        j.close();
    }
    j.close_array();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_outside_quotes() {
        let v: Vec<_> =
            split_addresses(b"\"jam,abrakadabra.ch\" <m@a.ch>, ,b@c.d,  e@f.g").collect();
        assert_eq!(
            v,
            vec![&b"\"jam,abrakadabra.ch\" <m@a.ch>"[..], b"b@c.d", b"e@f.g"]
        );
        assert_eq!(split_addresses(b"  ").count(), 0);
    }
}
