//! [`EncryptionKey`]: the user's key-encryption key, held in memory only.

use std::fmt;
use std::path::Path;

use zeroize::Zeroize;

use crate::error::{DatabaseError, SecurityError};

/// Length of an [`EncryptionKey`] in bytes (256 bits).
pub const ENCRYPTION_KEY_LEN: usize = 32;

/// The key-encryption key (KEK) a user supplies to open an encrypted database.
///
/// It never encrypts data itself: it wraps the database's random data keys, which are
/// stored wrapped in the database's key file. It is never written anywhere by Lightning DB,
/// its bytes are zeroized when it is dropped, and its `Debug` output shows nothing of it.
#[derive(Clone)]
pub struct EncryptionKey {
    bytes: [u8; ENCRYPTION_KEY_LEN],
}

impl EncryptionKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; ENCRYPTION_KEY_LEN]) -> Self {
        Self { bytes: *bytes }
    }

    /// A key from a slice, which must hold exactly 32 bytes (`InvalidKeyMaterial` otherwise).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DatabaseError> {
        let bytes: [u8; ENCRYPTION_KEY_LEN] = bytes.try_into().map_err(|_| {
            invalid_material(format!(
                "{} bytes given, a key has exactly {ENCRYPTION_KEY_LEN}",
                bytes.len()
            ))
        })?;
        Ok(Self { bytes })
    }

    /// A key read from a file holding either the 32 raw bytes or 64 hexadecimal digits
    /// (surrounding whitespace, such as a final newline, is ignored for the hex form).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, DatabaseError> {
        let path = path.as_ref();
        let mut raw = std::fs::read(path)
            .map_err(|e| DatabaseError::io("read encryption key file", path, &e))?;
        let key = Self::parse(&raw)
            .map_err(|why| invalid_material(format!("key file {}: {why}", path.display())));
        raw.zeroize();
        key
    }

    /// A key from the environment variable `var`, holding 64 hexadecimal digits.
    pub fn from_env(var: &str) -> Result<Self, DatabaseError> {
        let mut value = std::env::var(var)
            .map_err(|e| invalid_material(format!("environment variable {var}: {e}")))?;
        let key = Self::from_hex(value.trim())
            .map_err(|why| invalid_material(format!("environment variable {var}: {why}")));
        value.zeroize();
        key
    }

    /// The key's bytes, for the cipher that wraps data keys.
    pub(crate) fn bytes(&self) -> &[u8; ENCRYPTION_KEY_LEN] {
        &self.bytes
    }

    fn parse(raw: &[u8]) -> Result<Self, String> {
        if raw.len() == ENCRYPTION_KEY_LEN {
            let mut bytes = [0u8; ENCRYPTION_KEY_LEN];
            bytes.copy_from_slice(raw);
            return Ok(Self { bytes });
        }
        let text = std::str::from_utf8(raw)
            .map_err(|_| format!("{} bytes, neither 32 raw bytes nor hexadecimal", raw.len()))?;
        Self::from_hex(text.trim())
    }

    fn from_hex(text: &str) -> Result<Self, String> {
        let digits = text.as_bytes();
        if digits.len() != 2 * ENCRYPTION_KEY_LEN {
            return Err(format!(
                "{} characters, a key is {} hexadecimal digits",
                digits.len(),
                2 * ENCRYPTION_KEY_LEN
            ));
        }
        let mut bytes = [0u8; ENCRYPTION_KEY_LEN];
        for (i, pair) in digits.chunks_exact(2).enumerate() {
            let (Some(hi), Some(lo)) = (hex_value(pair[0]), hex_value(pair[1])) else {
                bytes.zeroize();
                return Err(format!("character {} is not a hexadecimal digit", 2 * i));
            };
            bytes[i] = hi << 4 | lo;
        }
        Ok(Self { bytes })
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn invalid_material(reason: String) -> DatabaseError {
    DatabaseError::SecurityError(SecurityError::InvalidKeyMaterial { reason })
}

impl Drop for EncryptionKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl PartialEq for EncryptionKey {
    /// Compares in constant time, so a comparison leaks nothing of where two keys differ.
    fn eq(&self, other: &Self) -> bool {
        self.bytes
            .iter()
            .zip(other.bytes.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl Eq for EncryptionKey {}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn expected() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn debug_shows_nothing_of_the_key() {
        let key = EncryptionKey::from_bytes(&[0xab; 32]);
        let shown = format!("{key:?} {:?}", Some(key.clone()));
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn file_holds_raw_bytes_or_hex() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = dir.path().join("raw.key");
        std::fs::write(&raw, expected()).expect("write");
        assert_eq!(
            EncryptionKey::from_file(&raw).expect("raw").bytes(),
            &expected()
        );
        let hex = dir.path().join("hex.key");
        std::fs::write(&hex, format!("{}\n", HEX.to_uppercase())).expect("write");
        assert_eq!(
            EncryptionKey::from_file(&hex).expect("hex").bytes(),
            &expected()
        );
        for bad in [&b"short"[..], &[b'g'; 64][..], &[0u8; 33][..]] {
            std::fs::write(&hex, bad).expect("write");
            match EncryptionKey::from_file(&hex) {
                Err(DatabaseError::SecurityError(SecurityError::InvalidKeyMaterial { reason })) => {
                    assert!(reason.contains("hex.key"), "{reason}")
                }
                other => panic!("expected InvalidKeyMaterial, got {other:?}"),
            }
        }
        assert!(matches!(
            EncryptionKey::from_file(dir.path().join("missing")),
            Err(DatabaseError::Io { .. })
        ));
    }

    #[test]
    fn environment_holds_hex() {
        let var = "LIGHTNING_TEST_KEY_ENV_ONLY_HERE";
        std::env::set_var(var, HEX);
        assert_eq!(
            EncryptionKey::from_env(var).expect("env").bytes(),
            &expected()
        );
        std::env::set_var(var, "xyz");
        assert!(matches!(
            EncryptionKey::from_env(var),
            Err(DatabaseError::SecurityError(
                SecurityError::InvalidKeyMaterial { .. }
            ))
        ));
        std::env::remove_var(var);
        assert!(EncryptionKey::from_env(var).is_err());
    }

    #[test]
    fn slices_must_be_32_bytes_and_equality_compares_all() {
        assert!(EncryptionKey::from_slice(&[1; 31]).is_err());
        let a = EncryptionKey::from_slice(&[1; 32]).expect("32");
        let mut other = [1; 32];
        assert_eq!(a, EncryptionKey::from_bytes(&other));
        other[31] = 2;
        assert_ne!(a, EncryptionKey::from_bytes(&other));
    }
}
