//! Flow keywords: `flow`, `flowbits`, `xbits`, `flowint`, `stream_size`.

use super::{split_args, uint::parse_cmp, KwResult};
use crate::ir::{
    BitCmd, FlowMatch, Flowbits, Flowint, FlowintOp, StreamSide, StreamSize, Value, Xbits,
};
use vocab::Direction;

/// `flow:to_server,established,...`.
pub fn flow(v: &str) -> KwResult<FlowMatch> {
    let mut f = FlowMatch::default();
    for a in split_args(v) {
        let a = a.trim();
        let set_dir = |f: &mut FlowMatch, d| {
            if f.dir.is_some_and(|x| x != d) {
                return Err("flow has both directions".to_string());
            }
            f.dir = Some(d);
            Ok(())
        };
        match a {
            "to_server" | "from_client" => set_dir(&mut f, Direction::ToServer)?,
            "to_client" | "from_server" => set_dir(&mut f, Direction::ToClient)?,
            "established" => f.established = Some(true),
            "not_established" => f.established = Some(false),
            "stateless" => f.stateless = true,
            "only_stream" => f.stream = Some(true),
            "no_stream" => f.stream = Some(false),
            "only_frag" => f.frag = Some(true),
            "no_frag" => f.frag = Some(false),
            o => return Err(format!("unknown flow option `{o}`")),
        }
    }
    Ok(f)
}

fn bit_cmd(s: &str) -> KwResult<BitCmd> {
    Ok(match s.trim() {
        "set" => BitCmd::Set,
        "unset" => BitCmd::Unset,
        "toggle" => BitCmd::Toggle,
        "isset" => BitCmd::IsSet,
        "isnotset" => BitCmd::IsNotSet,
        o => return Err(format!("unknown bit command `{o}`")),
    })
}

fn bit_name(s: &str) -> KwResult<String> {
    let s = s.trim();
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(format!("invalid bit name `{s}`"));
    }
    Ok(s.to_string())
}

/// `flowbits:cmd,name` or `flowbits:noalert` (returned as `None`).
pub fn flowbits(v: &str) -> KwResult<Option<Flowbits>> {
    let v = v.trim();
    if v == "noalert" {
        return Ok(None);
    }
    let (cmd, names) = v
        .split_once(',')
        .ok_or_else(|| format!("flowbits `{v}` needs a command and a name"))?;
    let cmd = bit_cmd(cmd)?;
    let names_s = names.trim();
    let all = names_s.contains('&');
    if all && names_s.contains('|') {
        return Err("flowbits mixes `&` and `|`".into());
    }
    let names: Vec<String> = names_s
        .split(['&', '|'])
        .map(bit_name)
        .collect::<KwResult<_>>()?;
    if names.len() > 1 && !matches!(cmd, BitCmd::IsSet | BitCmd::IsNotSet) {
        return Err("only isset/isnotset take several names".into());
    }
    Ok(Some(Flowbits { cmd, names, all }))
}

/// `xbits:cmd,name,track ip_src|ip_dst|ip_pair[,expire N]`.
pub fn xbits(v: &str) -> KwResult<Xbits> {
    let a = split_args(v);
    if a.len() < 3 {
        return Err("xbits needs command, name, track".into());
    }
    let cmd = bit_cmd(a[0])?;
    let name = bit_name(a[1])?;
    let track = a[2]
        .trim()
        .strip_prefix("track")
        .map(str::trim)
        .filter(|t| matches!(*t, "ip_src" | "ip_dst" | "ip_pair"))
        .ok_or_else(|| format!("invalid xbits track `{}`", a[2].trim()))?
        .to_string();
    let mut expire = None;
    if let Some(e) = a.get(3) {
        let n = e
            .trim()
            .strip_prefix("expire")
            .map(str::trim)
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| format!("invalid xbits option `{}`", e.trim()))?;
        expire = Some(n);
    }
    Ok(Xbits {
        cmd,
        name,
        track,
        expire,
    })
}

/// `flowint:name,op[,value]`.
pub fn flowint(v: &str) -> KwResult<Flowint> {
    let a = split_args(v);
    if a.len() < 2 {
        return Err("flowint needs a name and an operator".into());
    }
    let name = bit_name(a[0])?;
    let op = match a[1].trim() {
        "=" => FlowintOp::Set,
        "+" => FlowintOp::Add,
        "-" => FlowintOp::Sub,
        "==" => FlowintOp::Eq,
        "!=" => FlowintOp::Ne,
        "<" => FlowintOp::Lt,
        "<=" => FlowintOp::Le,
        ">" => FlowintOp::Gt,
        ">=" => FlowintOp::Ge,
        "isset" => FlowintOp::IsSet,
        "notset" | "isnotset" => FlowintOp::NotSet,
        o => return Err(format!("unknown flowint operator `{o}`")),
    };
    let needs_value = !matches!(op, FlowintOp::IsSet | FlowintOp::NotSet);
    let value = match (needs_value, a.get(2)) {
        (true, Some(x)) => {
            let x = x.trim();
            Some(match x.parse::<i64>() {
                Ok(n) if n >= 0 && n <= i64::from(u32::MAX) => Value::Lit(n),
                Ok(_) => return Err(format!("flowint value `{x}` out of range")),
                Err(_) => Value::Var(bit_name(x)?),
            })
        }
        (true, None) => return Err("flowint operator needs a value".into()),
        (false, Some(_)) => return Err("isset/notset take no value".into()),
        (false, None) => None,
    };
    Ok(Flowint { name, op, value })
}

/// `stream_size:client|server|both|either,op,value`.
pub fn stream_size(v: &str) -> KwResult<StreamSize> {
    let a = split_args(v);
    if a.len() != 3 {
        return Err("stream_size needs side, operator, value".into());
    }
    let side = match a[0].trim() {
        "client" => StreamSide::Client,
        "server" => StreamSide::Server,
        "both" => StreamSide::Both,
        "either" => StreamSide::Either,
        o => return Err(format!("unknown stream_size side `{o}`")),
    };
    let op = a[1].trim();
    if !matches!(op, "<" | ">" | "<=" | ">=" | "=" | "!=") {
        return Err(format!("invalid stream_size operator `{op}`"));
    }
    let text = if op == "!=" {
        format!("!{}", a[2].trim())
    } else {
        format!("{op}{}", a[2].trim())
    };
    Ok(StreamSize {
        side,
        cmp: parse_cmp(&text, u64::from(u32::MAX))?,
    })
}
