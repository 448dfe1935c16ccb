//! The appliance's Ed25519 key, which signs the chain of custody: a 32-byte seed in
//! `appliance.ed25519` under the evidence directory, made at first start, readable by its
//! owner only (0600); the public key beside it in `appliance.ed25519.pub` (hex) for anyone
//! who checks the log elsewhere.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use ed25519_dalek::SigningKey;

use crate::error::{Error, Kind, Result};

pub const KEY_FILE: &str = "appliance.ed25519";
pub const PUBLIC_FILE: &str = "appliance.ed25519.pub";

/// Loads the key of `dir`, or makes one when there is none.
pub fn load_or_create(dir: &Path) -> Result<SigningKey> {
    let path = dir.join(KEY_FILE);
    let io = |what: &str, e: std::io::Error| {
        Error::new(Kind::Storage, format!("{what} {}: {e}", path.display()))
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            let mode = std::fs::metadata(&path)
                .map_err(|e| io("reading", e))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(Error::config(format!(
                    "{} is readable by others (mode {:o}): chmod 600 it",
                    path.display(),
                    mode & 0o777
                )));
            }
            let seed: [u8; 32] = bytes.try_into().map_err(|_| {
                Error::new(
                    Kind::Corrupt,
                    format!("{} is not a 32-byte Ed25519 seed", path.display()),
                )
            })?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed: [u8; 32] = rand::random();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| io("creating", e))?;
            f.write_all(&seed)
                .and_then(|()| f.sync_all())
                .map_err(|e| io("writing", e))?;
            let key = SigningKey::from_bytes(&seed);
            std::fs::write(
                dir.join(PUBLIC_FILE),
                format!("{}\n", hex::encode(key.verifying_key().as_bytes())),
            )
            .map_err(|e| io("writing the public key beside", e))?;
            Ok(key)
        }
        Err(e) => Err(io("reading", e)),
    }
}
