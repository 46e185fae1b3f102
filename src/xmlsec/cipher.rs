//! The algorithms XML Encryption may name in SDK traffic, as closed enums, and
//! the primitive operations behind them.
//!
//! Nothing here is hand-written cryptography: RSA-OAEP and AES-CBC come from
//! aws-lc-rs, AES-GCM from ring. What this module adds is XML-Enc's framing:
//!
//! - CBC ciphertext is `IV(16) || ciphertext`. On decryption only the last
//!   padding byte counts (1..=16); the other padding bytes may be random, as
//!   .NET writes them, so aws-lc-rs's PKCS#7 unpadding cannot be used.
//!   Encryption pads with PKCS#7, which is one valid XML-Enc padding.
//! - GCM ciphertext is `IV(12) || ciphertext || tag(16)`, no additional data.
//!
//! Every decryption failure (OAEP, padding, tag, length) is the single
//! [`CipherError::CannotDecrypt`], so no caller can turn it into an oracle.

use aws_lc_rs::cipher::{
    DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128, AES_256,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPublicEncryptingKey, PublicEncryptingKey,
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use ring::aead;

use crate::pki::{Certificate, PrivateKey};

/// `xenc:` — XML Encryption 1.0.
pub const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
/// `xenc11:` — XML Encryption 1.1 (GCM, `rsa-oaep`, `MGF`).
pub const XENC11_NS: &str = "http://www.w3.org/2009/xmlenc11#";
/// `ds:` — XML Signature, for `KeyInfo` and `DigestMethod`.
pub use super::algorithm::DSIG_NS;

/// `EncryptedData/@Type` for an encrypted element.
pub const TYPE_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
/// `EncryptedData/@Type` for encrypted content (DIGG: non-XML payloads).
pub const TYPE_CONTENT: &str = "http://www.w3.org/2001/04/xmlenc#Content";

/// `DigestMethod` URIs that can appear under an RSA-OAEP `EncryptionMethod`.
pub const DIGEST_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
pub const DIGEST_SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// `xenc11:MGF/@Algorithm` URIs.
pub const MGF1_SHA1: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha1";
pub const MGF1_SHA256: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha256";

const AES_BLOCK_LEN: usize = 16;
const CBC_IV_LEN: usize = 16;
const GCM_IV_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;

/// Why an algorithm or a primitive operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("encryption algorithm '{0}' is not supported")]
    UnsupportedAlgorithm(String),
    #[error("digest '{digest}' is not supported with key transport '{transport}'")]
    UnsupportedDigest { transport: &'static str, digest: String },
    #[error("mask generation function '{mgf}' is not supported with key transport '{transport}'")]
    UnsupportedMgf { transport: &'static str, mgf: String },
    #[error("RSA-OAEP with a label (non-empty OAEPparams) is not supported")]
    OaepLabelUnsupported,
    #[error("the recipient certificate has no RSA key (2048 to 8192 bits) usable for key transport")]
    UnusableRecipientKey,
    #[error("the private key cannot be used for RSA-OAEP decryption")]
    UnusablePrivateKey,
    #[error("the system random number generator failed")]
    RandomFailed,
    #[error("encryption failed")]
    EncryptionFailed,
    /// Deliberately says nothing about which step failed (XML-Enc padding
    /// oracle defence, DIGG C3.2.2 §3.4.1).
    #[error("cannot decrypt")]
    CannotDecrypt,
}

/// The symmetric algorithm that encrypts the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BlockCipher {
    /// DIGG's envelope profile (C3.2.2 §3.4.4).
    #[default]
    Aes256Cbc,
    Aes128Cbc,
    Aes128Gcm,
    Aes256Gcm,
}

impl BlockCipher {
    pub const ALL: [BlockCipher; 4] =
        [BlockCipher::Aes256Cbc, BlockCipher::Aes128Cbc, BlockCipher::Aes128Gcm, BlockCipher::Aes256Gcm];

    pub const fn uri(self) -> &'static str {
        match self {
            BlockCipher::Aes256Cbc => "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
            BlockCipher::Aes128Cbc => "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
            BlockCipher::Aes128Gcm => "http://www.w3.org/2009/xmlenc11#aes128-gcm",
            BlockCipher::Aes256Gcm => "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        }
    }

    pub fn from_uri(uri: &str) -> Result<Self, CipherError> {
        Self::ALL.into_iter().find(|c| c.uri() == uri).ok_or_else(|| CipherError::UnsupportedAlgorithm(uri.to_owned()))
    }

    /// Session key length in bytes; an unwrapped key of any other length is
    /// refused.
    pub const fn key_len(self) -> usize {
        match self {
            BlockCipher::Aes256Cbc | BlockCipher::Aes256Gcm => 32,
            BlockCipher::Aes128Cbc | BlockCipher::Aes128Gcm => 16,
        }
    }

    const fn is_gcm(self) -> bool {
        matches!(self, BlockCipher::Aes128Gcm | BlockCipher::Aes256Gcm)
    }

    /// Encrypts `plaintext` (consumed, its buffer reused) under `key` with a
    /// fresh random IV; returns XML-Enc's `IV || ciphertext [|| tag]`.
    pub fn encrypt(self, key: &SessionKey, mut plaintext: Vec<u8>) -> Result<Vec<u8>, CipherError> {
        self.check_key(key).map_err(|_| CipherError::EncryptionFailed)?;
        if self.is_gcm() {
            let mut nonce = [0u8; GCM_IV_LEN];
            fill_random(&mut nonce)?;
            let sealing_key = self.gcm_key(key).map_err(|_| CipherError::EncryptionFailed)?;
            plaintext.reserve_exact(GCM_IV_LEN + GCM_TAG_LEN);
            plaintext.splice(0..0, nonce);
            let tag = sealing_key
                .seal_in_place_separate_tag(
                    aead::Nonce::assume_unique_for_key(nonce),
                    aead::Aad::empty(),
                    &mut plaintext[GCM_IV_LEN..],
                )
                .map_err(|_| CipherError::EncryptionFailed)?;
            plaintext.extend_from_slice(tag.as_ref());
            Ok(plaintext)
        } else {
            let mut iv = [0u8; CBC_IV_LEN];
            fill_random(&mut iv)?;
            let pad = AES_BLOCK_LEN - plaintext.len() % AES_BLOCK_LEN;
            plaintext.reserve_exact(CBC_IV_LEN + pad);
            plaintext.resize(plaintext.len() + pad, pad as u8);
            plaintext.splice(0..0, iv);
            let unbound = UnboundCipherKey::new(self.aws_lc_algorithm(), key.as_bytes())
                .map_err(|_| CipherError::EncryptionFailed)?;
            let encrypting_key = EncryptingKey::cbc(unbound).map_err(|_| CipherError::EncryptionFailed)?;
            encrypting_key
                .less_safe_encrypt(&mut plaintext[CBC_IV_LEN..], EncryptionContext::Iv128(FixedLength::from(iv)))
                .map_err(|_| CipherError::EncryptionFailed)?;
            Ok(plaintext)
        }
    }

    /// Decrypts XML-Enc's `IV || ciphertext [|| tag]` in place and returns
    /// the plaintext in the same buffer. Any failure is
    /// [`CipherError::CannotDecrypt`].
    pub fn decrypt(self, key: &SessionKey, mut data: Vec<u8>) -> Result<Vec<u8>, CipherError> {
        self.check_key(key)?;
        if self.is_gcm() {
            if data.len() < GCM_IV_LEN + GCM_TAG_LEN {
                return Err(CipherError::CannotDecrypt);
            }
            let mut nonce = [0u8; GCM_IV_LEN];
            nonce.copy_from_slice(&data[..GCM_IV_LEN]);
            let opening_key = self.gcm_key(key)?;
            let plaintext_len = opening_key
                .open_within(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::empty(), &mut data, GCM_IV_LEN..)
                .map_err(|_| CipherError::CannotDecrypt)?
                .len();
            data.truncate(plaintext_len);
            Ok(data)
        } else {
            let body_len = data.len().saturating_sub(CBC_IV_LEN);
            if body_len == 0 || body_len % AES_BLOCK_LEN != 0 {
                return Err(CipherError::CannotDecrypt);
            }
            let mut iv = [0u8; CBC_IV_LEN];
            iv.copy_from_slice(&data[..CBC_IV_LEN]);
            let unbound = UnboundCipherKey::new(self.aws_lc_algorithm(), key.as_bytes())
                .map_err(|_| CipherError::CannotDecrypt)?;
            // `DecryptingKey` is aws-lc-rs's CBC without padding removal.
            let decrypting_key = DecryptingKey::cbc(unbound).map_err(|_| CipherError::CannotDecrypt)?;
            decrypting_key
                .decrypt(&mut data[CBC_IV_LEN..], DecryptionContext::Iv128(FixedLength::from(iv)))
                .map_err(|_| CipherError::CannotDecrypt)?;
            let unpadded_len = xmlenc_unpadded_len(&data[CBC_IV_LEN..]).ok_or(CipherError::CannotDecrypt)?;
            data.copy_within(CBC_IV_LEN..CBC_IV_LEN + unpadded_len, 0);
            data.truncate(unpadded_len);
            Ok(data)
        }
    }

    fn check_key(self, key: &SessionKey) -> Result<(), CipherError> {
        if key.as_bytes().len() == self.key_len() {
            Ok(())
        } else {
            Err(CipherError::CannotDecrypt)
        }
    }

    fn aws_lc_algorithm(self) -> &'static aws_lc_rs::cipher::Algorithm {
        match self.key_len() {
            32 => &AES_256,
            _ => &AES_128,
        }
    }

    fn gcm_key(self, key: &SessionKey) -> Result<aead::LessSafeKey, CipherError> {
        let algorithm = match self {
            BlockCipher::Aes128Gcm => &aead::AES_128_GCM,
            _ => &aead::AES_256_GCM,
        };
        let unbound = aead::UnboundKey::new(algorithm, key.as_bytes()).map_err(|_| CipherError::CannotDecrypt)?;
        Ok(aead::LessSafeKey::new(unbound))
    }
}

/// Length of the plaintext inside a decrypted CBC body under XML-Enc's rule
/// (§5.2): the last byte gives the padding length, 1..=block size; the other
/// padding bytes are arbitrary and deliberately not inspected.
pub(crate) fn xmlenc_unpadded_len(body: &[u8]) -> Option<usize> {
    let pad = usize::from(*body.last()?);
    if pad == 0 || pad > AES_BLOCK_LEN || pad > body.len() {
        return None;
    }
    Some(body.len() - pad)
}

/// How the session key is wrapped for the recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyTransport {
    /// `xmlenc#rsa-oaep-mgf1p`: SHA-1 digest, MGF1-SHA1. DIGG's profile.
    #[default]
    RsaOaepMgf1p,
    /// `xmlenc11#rsa-oaep` with SHA-256 digest and MGF1-SHA256; the only
    /// parameters of that URI accepted here.
    RsaOaepSha256,
}

impl KeyTransport {
    pub const fn uri(self) -> &'static str {
        match self {
            KeyTransport::RsaOaepMgf1p => "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
            KeyTransport::RsaOaepSha256 => "http://www.w3.org/2009/xmlenc11#rsa-oaep",
        }
    }

    /// The `ds:DigestMethod` to write under `EncryptionMethod`, if any.
    /// `rsa-oaep-mgf1p` is written bare: SHA-1 is its default.
    pub const fn digest_uri(self) -> Option<&'static str> {
        match self {
            KeyTransport::RsaOaepMgf1p => None,
            KeyTransport::RsaOaepSha256 => Some(DIGEST_SHA256),
        }
    }

    /// The `xenc11:MGF` to write under `EncryptionMethod`, if any.
    pub const fn mgf_uri(self) -> Option<&'static str> {
        match self {
            KeyTransport::RsaOaepMgf1p => None,
            KeyTransport::RsaOaepSha256 => Some(MGF1_SHA256),
        }
    }

    /// Reads an `EncryptedKey/EncryptionMethod`: its `Algorithm`, the
    /// `DigestMethod` and `MGF` algorithms if present, and the decoded
    /// `OAEPparams` if present. aws-lc-rs only pairs a digest with the MGF1 of
    /// the same digest, and takes no label here, so anything else is refused.
    pub fn from_parameters(
        algorithm: &str,
        digest: Option<&str>,
        mgf: Option<&str>,
        oaep_label: Option<&[u8]>,
    ) -> Result<Self, CipherError> {
        let transport = match algorithm {
            a if a == Self::RsaOaepMgf1p.uri() => Self::RsaOaepMgf1p,
            a if a == Self::RsaOaepSha256.uri() => Self::RsaOaepSha256,
            other => return Err(CipherError::UnsupportedAlgorithm(other.to_owned())),
        };
        if oaep_label.is_some_and(|label| !label.is_empty()) {
            return Err(CipherError::OaepLabelUnsupported);
        }
        // Absent parameters take XML-Enc's defaults: SHA-1 and MGF1-SHA1.
        let digest = digest.unwrap_or(DIGEST_SHA1);
        let (wanted_digest, wanted_mgf) = match transport {
            Self::RsaOaepMgf1p => (DIGEST_SHA1, None),
            Self::RsaOaepSha256 => (DIGEST_SHA256, Some(MGF1_SHA256)),
        };
        if digest != wanted_digest {
            return Err(CipherError::UnsupportedDigest { transport: transport.uri(), digest: digest.to_owned() });
        }
        match (transport, mgf) {
            // mgf1p fixes MGF1-SHA1 and has no MGF child in the schema.
            (Self::RsaOaepMgf1p, None) => {}
            (Self::RsaOaepSha256, Some(m)) if Some(m) == wanted_mgf => {}
            (_, m) => {
                return Err(CipherError::UnsupportedMgf {
                    transport: transport.uri(),
                    mgf: m.unwrap_or(MGF1_SHA1).to_owned(),
                })
            }
        }
        Ok(transport)
    }

    fn oaep_algorithm(self) -> &'static OaepAlgorithm {
        match self {
            KeyTransport::RsaOaepMgf1p => &OAEP_SHA1_MGF1SHA1,
            KeyTransport::RsaOaepSha256 => &OAEP_SHA256_MGF1SHA256,
        }
    }

    /// Encrypts `key` for the RSA key in `recipient`.
    pub fn wrap(self, recipient: &Certificate, key: &SessionKey) -> Result<Vec<u8>, CipherError> {
        let public_key =
            PublicEncryptingKey::from_der(&recipient.spki_der()).map_err(|_| CipherError::UnusableRecipientKey)?;
        let oaep_key = OaepPublicEncryptingKey::new(public_key).map_err(|_| CipherError::UnusableRecipientKey)?;
        let mut wrapped = vec![0u8; oaep_key.ciphertext_size()];
        let len = oaep_key
            .encrypt(self.oaep_algorithm(), key.as_bytes(), &mut wrapped, None)
            .map_err(|_| CipherError::EncryptionFailed)?
            .len();
        wrapped.truncate(len);
        Ok(wrapped)
    }

    /// Decrypts a wrapped session key for `cipher`. A key of the wrong length
    /// and an OAEP failure are both [`CipherError::CannotDecrypt`]; only an
    /// unusable private key (our configuration, not the peer's input) is
    /// reported apart.
    pub fn unwrap(
        self,
        private_key: &PrivateKey,
        wrapped: &[u8],
        cipher: BlockCipher,
    ) -> Result<SessionKey, CipherError> {
        // Parsed once per key, not per unwrap (see `PrivateKey`).
        let oaep_key = private_key.oaep_decrypting_key().ok_or(CipherError::UnusablePrivateKey)?;
        let mut out = vec![0u8; oaep_key.min_output_size()];
        let result = match oaep_key.decrypt(self.oaep_algorithm(), wrapped, &mut out, None) {
            Ok(key) if key.len() == cipher.key_len() => Ok(SessionKey(key.to_vec())),
            _ => Err(CipherError::CannotDecrypt),
        };
        wipe(&mut out);
        result
    }
}

/// A symmetric session key. Its bytes are overwritten (best effort) on drop.
pub struct SessionKey(Vec<u8>);

impl SessionKey {
    /// A fresh key for `cipher` from the system CSPRNG.
    pub fn generate(cipher: BlockCipher) -> Result<Self, CipherError> {
        let mut key = vec![0u8; cipher.key_len()];
        fill_random(&mut key)?;
        Ok(Self(key))
    }

    /// A key from known bytes (tests, key agreement). The length is checked
    /// when the key is used.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for SessionKey {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionKey({} bytes)", self.0.len())
    }
}

/// Zeroes key material; `black_box` keeps the compiler from dropping the
/// writes as dead stores.
pub(crate) fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

pub(crate) fn fill_random(dest: &mut [u8]) -> Result<(), CipherError> {
    aws_lc_rs::rand::fill(dest).map_err(|_| CipherError::RandomFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip() {
        for cipher in BlockCipher::ALL {
            assert_eq!(BlockCipher::from_uri(cipher.uri()), Ok(cipher));
        }
        assert!(matches!(
            BlockCipher::from_uri("http://www.w3.org/2001/04/xmlenc#tripledes-cbc"),
            Err(CipherError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn unpadding_reads_only_the_last_byte() {
        assert_eq!(xmlenc_unpadded_len(&[b'a', b'b', 0x9c, 0x17, 3]), Some(2));
        assert_eq!(xmlenc_unpadded_len(&[7u8; 16][..]), Some(9));
        assert_eq!(xmlenc_unpadded_len(&[16u8; 16][..]), Some(0));
        assert_eq!(xmlenc_unpadded_len(&[0u8; 16][..]), None);
        assert_eq!(xmlenc_unpadded_len(&[17u8; 32][..]), None);
        assert_eq!(xmlenc_unpadded_len(&[3, 3]), None);
        assert_eq!(xmlenc_unpadded_len(&[]), None);
    }

    #[test]
    fn every_cipher_round_trips_all_lengths_near_a_block() {
        for cipher in BlockCipher::ALL {
            let key = SessionKey::generate(cipher).unwrap();
            for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 1000] {
                let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let sealed = cipher.encrypt(&key, plaintext.clone()).unwrap();
                assert_ne!(sealed, plaintext);
                assert_eq!(cipher.decrypt(&key, sealed).unwrap(), plaintext, "{cipher:?} {len}");
            }
        }
    }

    #[test]
    fn ciphertext_layout_matches_xml_enc() {
        let cbc = BlockCipher::Aes256Cbc;
        let key = SessionKey::generate(cbc).unwrap();
        assert_eq!(cbc.encrypt(&key, vec![0; 16]).unwrap().len(), 16 + 32);
        assert_eq!(cbc.encrypt(&key, vec![0; 15]).unwrap().len(), 16 + 16);
        let gcm = BlockCipher::Aes128Gcm;
        let key = SessionKey::generate(gcm).unwrap();
        assert_eq!(gcm.encrypt(&key, vec![0; 5]).unwrap().len(), 12 + 5 + 16);
    }

    #[test]
    fn truncated_or_wrong_key_is_cannot_decrypt() {
        for cipher in BlockCipher::ALL {
            let key = SessionKey::generate(cipher).unwrap();
            let sealed = cipher.encrypt(&key, b"some payload bytes".to_vec()).unwrap();
            assert_eq!(cipher.decrypt(&key, sealed[..sealed.len() - 1].to_vec()), Err(CipherError::CannotDecrypt));
            assert_eq!(cipher.decrypt(&key, Vec::new()), Err(CipherError::CannotDecrypt));
            let short = SessionKey::from_bytes(&[1; 8]);
            assert_eq!(cipher.decrypt(&short, sealed), Err(CipherError::CannotDecrypt));
        }
        let gcm = BlockCipher::Aes256Gcm;
        let key = SessionKey::generate(gcm).unwrap();
        let mut sealed = gcm.encrypt(&key, b"payload".to_vec()).unwrap();
        sealed[14] ^= 1;
        assert_eq!(gcm.decrypt(&key, sealed), Err(CipherError::CannotDecrypt));
    }

    #[test]
    fn oaep_parameters_are_a_closed_set() {
        let mgf1p = KeyTransport::RsaOaepMgf1p.uri();
        let oaep = KeyTransport::RsaOaepSha256.uri();
        assert_eq!(KeyTransport::from_parameters(mgf1p, None, None, None), Ok(KeyTransport::RsaOaepMgf1p));
        assert_eq!(
            KeyTransport::from_parameters(mgf1p, Some(DIGEST_SHA1), None, Some(b"")),
            Ok(KeyTransport::RsaOaepMgf1p)
        );
        assert!(matches!(
            KeyTransport::from_parameters(mgf1p, Some(DIGEST_SHA256), None, None),
            Err(CipherError::UnsupportedDigest { .. })
        ));
        assert!(matches!(
            KeyTransport::from_parameters(mgf1p, None, Some(MGF1_SHA1), None),
            Err(CipherError::UnsupportedMgf { .. })
        ));
        assert_eq!(
            KeyTransport::from_parameters(mgf1p, None, None, Some(b"label")),
            Err(CipherError::OaepLabelUnsupported)
        );
        assert_eq!(
            KeyTransport::from_parameters(oaep, Some(DIGEST_SHA256), Some(MGF1_SHA256), None),
            Ok(KeyTransport::RsaOaepSha256)
        );
        assert!(matches!(
            KeyTransport::from_parameters(oaep, None, None, None),
            Err(CipherError::UnsupportedDigest { .. })
        ));
        assert!(matches!(
            KeyTransport::from_parameters(oaep, Some(DIGEST_SHA256), None, None),
            Err(CipherError::UnsupportedMgf { .. })
        ));
        assert!(matches!(
            KeyTransport::from_parameters(oaep, Some(DIGEST_SHA1), Some(MGF1_SHA256), None),
            Err(CipherError::UnsupportedDigest { .. })
        ));
        assert!(matches!(
            KeyTransport::from_parameters("http://www.w3.org/2001/04/xmlenc#rsa-1_5", None, None, None),
            Err(CipherError::UnsupportedAlgorithm(_))
        ));
    }
}
