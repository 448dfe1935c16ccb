//! Flow direction.

/// Which way a packet travels relative to the flow's initiator (the client).
///
/// One type for the flow table, the app layer, rule options (`flow:to_server`) and the stored
/// alert; with the `serde` feature it is written as EVE spells it (`to_server`, `to_client`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Direction {
    /// Client to server: the direction of the flow's first packet (or of the SYN).
    #[default]
    ToServer = 0,
    /// Server to client.
    ToClient = 1,
}

impl Direction {
    /// 0 for to-server, 1 for to-client: index into per-direction arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The opposite direction.
    #[inline]
    pub const fn other(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }

    /// EVE's spelling (`to_server`, `to_client`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::ToServer => "to_server",
            Direction::ToClient => "to_client",
        }
    }

    /// Parses the spelling of [`Direction::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "to_server" => Some(Direction::ToServer),
            "to_client" => Some(Direction::ToClient),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Direction;

    #[test]
    fn index_other_and_spelling_round_trip() {
        for d in [Direction::ToServer, Direction::ToClient] {
            assert_eq!(d.other().other(), d);
            assert_ne!(d.other().index(), d.index());
            assert_eq!(Direction::parse(d.as_str()), Some(d));
        }
        assert_eq!(Direction::ToServer.index(), 0);
        assert_eq!(Direction::parse("both"), None);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_eve_spelling() {
        for d in [Direction::ToServer, Direction::ToClient] {
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{}\"", d.as_str()));
            assert_eq!(serde_json::from_str::<Direction>(&json).unwrap(), d);
        }
    }
}
