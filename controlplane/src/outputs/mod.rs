//! Outputs of stored records: the EVE JSON file ([`eve`]).

pub mod eve;
