//! The key that seals audit entries (`encrypt_logs`) and the sealing itself.

use std::fmt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroize;

use crate::error::{DatabaseError, SecurityError};

/// Bytes of an XChaCha20-Poly1305 nonce, stored in front of each sealed entry.
const NONCE_LEN: usize = 24;

/// A 256-bit key for sealing audit entries with XChaCha20-Poly1305. Zeroized when dropped;
/// its `Debug` prints nothing secret.
///
/// It is a plain 32-byte key of the audit log's own until the database's encryption key type
/// lands; the two are meant to become one.
#[derive(Clone)]
pub struct AuditKey([u8; 32]);

impl AuditKey {
    /// The key made of these 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> AuditKey {
        AuditKey(*bytes)
    }

    /// The key written as 64 hexadecimal digits (surrounding white space ignored).
    /// Errors: `InvalidKeyMaterial` for anything else.
    pub fn from_hex(text: &str) -> Result<AuditKey, DatabaseError> {
        let text = text.trim();
        let bytes = super::format::unhex(text)
            .filter(|b| b.len() == 32)
            .ok_or_else(|| invalid("an audit key is 64 hexadecimal digits (32 bytes)"))?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes);
        Ok(AuditKey(key))
    }

    /// The key in file `path`: exactly 32 raw bytes, or 64 hexadecimal digits.
    pub fn from_file(path: impl AsRef<Path>) -> Result<AuditKey, DatabaseError> {
        let mut bytes = std::fs::read(path.as_ref())?;
        let key = if bytes.len() == 32 {
            let mut key = [0u8; 32];
            key.copy_from_slice(&bytes);
            Ok(AuditKey(key))
        } else {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            AuditKey::from_hex(&text)
        };
        bytes.zeroize();
        key
    }

    /// The key in environment variable `var`, as 64 hexadecimal digits; `None` when unset.
    pub fn from_env(var: &str) -> Result<Option<AuditKey>, DatabaseError> {
        match std::env::var(var) {
            Ok(text) => AuditKey::from_hex(&text).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(invalid(&format!("{var} is not valid text")))
            }
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    /// `plain` sealed with a fresh random nonce, bound to `aad`: nonce ‖ ciphertext ‖ tag.
    pub(crate) fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, DatabaseError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher()
            .encrypt(&nonce, Payload { msg: plain, aad })
            .map_err(|_| SecurityError::EncryptionFailed {
                reason: "sealing an audit entry failed".into(),
            })?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// What [`Self::seal`] sealed, or `None` when it does not authenticate under this key
    /// and `aad` (a wrong key, or an entry edited or moved).
    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
            .ok()
    }
}

impl Drop for AuditKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

fn invalid(reason: &str) -> DatabaseError {
    SecurityError::InvalidKeyMaterial {
        reason: reason.to_string(),
    }
    .into()
}

/// `n` random bytes from the operating system (log ids).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    use chacha20poly1305::aead::rand_core::RngCore;
    let mut out = [0u8; N];
    OsRng.fill_bytes(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_entries_open_only_with_their_key_and_aad() {
        let key = AuditKey::from_bytes(&[7; 32]);
        let sealed = key.seal(b"secret entry", b"aad").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(key.open(&sealed, b"aad").unwrap(), b"secret entry");
        assert!(key.open(&sealed, b"other").is_none());
        assert!(AuditKey::from_bytes(&[8; 32])
            .open(&sealed, b"aad")
            .is_none());
        assert!(key.open(&sealed[..10], b"aad").is_none());
    }

    #[test]
    fn keys_from_hex_and_debug_hides_them() {
        let key = AuditKey::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(key.0, [0xab; 32]);
        assert_eq!(format!("{key:?}"), "AuditKey(..)");
        assert!(AuditKey::from_hex("abcd").is_err());
        assert!(AuditKey::from_hex(&"zz".repeat(32)).is_err());
    }
}
