//! Streaming XML-Enc payload encryption and decryption, in constant memory.
//!
//! [`encrypt_stream`] and [`decrypt_stream`] produce and accept exactly the
//! bytes of [`BlockCipher::encrypt`] and [`BlockCipher::decrypt`]
//! (`IV || ciphertext [|| tag]`, XML-Enc CBC padding), but read and write
//! through [`std::io`] in 64 KiB chunks, so a 100 MB message costs a few
//! fixed buffers whatever its size. [`Base64TextDecoder`] and
//! [`base64_text_encoder`] carry the same bytes to and from `CipherValue`
//! text.
//!
//! Nothing here is hand-written cryptography; only the buffering is ours.
//!
//! - CBC encryption: aws-lc-rs's safe
//!   [`StreamingEncryptingKey::less_safe_cbc_pkcs7`] with a fresh random IV,
//!   which pads with PKCS#7 as the one-shot path does.
//! - CBC decryption: aws-lc-rs's streaming decryptor only exists with strict
//!   PKCS#7 unpadding, which rejects XML-Enc's arbitrary padding bytes (.NET
//!   writes random ones). So the raw EVP API of `aws-lc-sys` (the library
//!   under aws-lc-rs) runs AES-CBC with padding disabled, the last block is
//!   held back until end of input, and XML-Enc's rule
//!   (`cipher::xmlenc_unpadded_len`, shared with the one-shot path)
//!   strips the padding.
//! - AES-GCM both ways: neither ring nor aws-lc-rs 1.19 has a streaming AEAD,
//!   so the raw EVP API (`EVP_aes_{128,256}_gcm`, `EVP_CTRL_GCM_SET_IVLEN`,
//!   `EVP_CTRL_GCM_SET_TAG`/`GET_TAG`) does it. GCM is a standard
//!   construction, so its output equals ring's one-shot output bit for bit.
//!
//! The `unsafe` code is confined to the small private RAII type `EvpCipher`,
//! which checks every length the C functions rely on.
//!
//! # Failures
//!
//! Every decryption failure, including a read or write error, is the single
//! [`CipherError::CannotDecrypt`], as for the one-shot path: no padding
//! oracle. Encryption failures (including I/O) are
//! [`CipherError::EncryptionFailed`], or [`CipherError::RandomFailed`].
//! `CipherError` has no I/O variant, so a caller that must tell a local
//! disk error apart should record it in its own `Write`/`Read` wrapper.

use std::io::{self, Read, Write};

use aws_lc_rs::cipher::{EncryptionContext, StreamingEncryptingKey, UnboundCipherKey, AES_128, AES_256};
use aws_lc_rs::iv::FixedLength;
use base64::Engine as _;

use super::cipher::{fill_random, wipe, xmlenc_unpadded_len, BlockCipher, CipherError, SessionKey};

/// Plaintext/ciphertext read per step.
const CHUNK: usize = 64 * 1024;
const AES_BLOCK_LEN: usize = 16;
const CBC_IV_LEN: usize = 16;
const GCM_IV_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;
/// Input bytes held back while decrypting until end of input is seen: CBC's
/// last block (it carries the padding) or GCM's tag. Both are 16 bytes.
const TAIL_LEN: usize = 16;

const fn is_gcm(cipher: BlockCipher) -> bool {
    matches!(cipher, BlockCipher::Aes128Gcm | BlockCipher::Aes256Gcm)
}

/// A failure of any step; callers turn it into one [`CipherError`] value.
#[derive(Debug)]
struct Failed;

/// Encrypts everything `input` yields under `key` with a fresh random IV and
/// writes XML-Enc's `IV || ciphertext [|| tag]` to `output`, the same format
/// as [`BlockCipher::encrypt`]. Returns the number of bytes written.
///
/// `output` is not flushed. On error, what was written is garbage.
pub fn encrypt_stream(
    cipher: BlockCipher,
    key: &SessionKey,
    input: &mut impl Read,
    output: &mut impl Write,
) -> Result<u64, CipherError> {
    if key.as_bytes().len() != cipher.key_len() {
        return Err(CipherError::EncryptionFailed);
    }
    let mut iv = [0u8; CBC_IV_LEN];
    let iv = &mut iv[..if is_gcm(cipher) { GCM_IV_LEN } else { CBC_IV_LEN }];
    fill_random(iv)?;
    encrypt_with_iv(cipher, key, iv, input, output).map_err(|Failed| CipherError::EncryptionFailed)
}

/// [`encrypt_stream`] with a given IV (tests compare against the one-shot
/// primitives with a fixed IV).
fn encrypt_with_iv(
    cipher: BlockCipher,
    key: &SessionKey,
    iv: &[u8],
    input: &mut impl Read,
    output: &mut impl Write,
) -> Result<u64, Failed> {
    let mut plaintext = Scratch::new(CHUNK);
    let mut ciphertext = Scratch::new(CHUNK + AES_BLOCK_LEN);
    if is_gcm(cipher) {
        let mut gcm = evp::EvpCipher::new(cipher, evp::Direction::Encrypt, key.as_bytes(), iv)?;
        output.write_all(iv).map_err(|_| Failed)?;
        let mut written = iv.len() as u64;
        loop {
            let n = read_some(input, &mut plaintext)?;
            if n == 0 {
                break;
            }
            let m = gcm.update(&plaintext[..n], &mut ciphertext)?;
            output.write_all(&ciphertext[..m]).map_err(|_| Failed)?;
            written += m as u64;
        }
        gcm.finish()?;
        let tag = gcm.tag()?;
        output.write_all(&tag).map_err(|_| Failed)?;
        Ok(written + GCM_TAG_LEN as u64)
    } else {
        let iv: [u8; CBC_IV_LEN] = iv.try_into().map_err(|_| Failed)?;
        let algorithm = if cipher.key_len() == 32 { &AES_256 } else { &AES_128 };
        let unbound = UnboundCipherKey::new(algorithm, key.as_bytes()).map_err(|_| Failed)?;
        let mut cbc =
            StreamingEncryptingKey::less_safe_cbc_pkcs7(unbound, EncryptionContext::Iv128(FixedLength::from(iv)))
                .map_err(|_| Failed)?;
        output.write_all(&iv).map_err(|_| Failed)?;
        let mut written = iv.len() as u64;
        loop {
            let n = read_some(input, &mut plaintext)?;
            if n == 0 {
                break;
            }
            let update = cbc.update(&plaintext[..n], &mut ciphertext).map_err(|_| Failed)?;
            output.write_all(update.written()).map_err(|_| Failed)?;
            written += update.written().len() as u64;
        }
        let (_, last) = cbc.finish(&mut ciphertext).map_err(|_| Failed)?;
        output.write_all(last.written()).map_err(|_| Failed)?;
        Ok(written + last.written().len() as u64)
    }
}

/// Decrypts XML-Enc's `IV || ciphertext [|| tag]` read from `input` and
/// writes the plaintext to `output`; accepts exactly what
/// [`BlockCipher::decrypt`] accepts. Returns the number of plaintext bytes
/// written.
///
/// **Plaintext is written before it is verified.** Only the last 16 bytes of
/// input are held back (CBC's padded last block, GCM's tag); everything
/// before them is decrypted and written as it arrives. If this returns `Err`,
/// everything written to `output` is unauthenticated (GCM: the tag did not
/// match or was never read; CBC: truncated or bad padding) and must be
/// discarded unread. Use the output only after `Ok`. (CBC has no integrity
/// of its own: even after `Ok` its plaintext is only as good as the
/// signature verified over it.)
///
/// Every failure — wrong key length, input too short or misaligned, bad
/// padding, bad tag, read or write error — is the same
/// [`CipherError::CannotDecrypt`], so the result is no padding oracle.
/// `output` is not flushed.
pub fn decrypt_stream(
    cipher: BlockCipher,
    key: &SessionKey,
    input: &mut impl Read,
    output: &mut impl Write,
) -> Result<u64, CipherError> {
    decrypt_inner(cipher, key, input, output).map_err(|Failed| CipherError::CannotDecrypt)
}

fn decrypt_inner(
    cipher: BlockCipher,
    key: &SessionKey,
    input: &mut impl Read,
    output: &mut impl Write,
) -> Result<u64, Failed> {
    if key.as_bytes().len() != cipher.key_len() {
        return Err(Failed);
    }
    let gcm = is_gcm(cipher);
    let mut iv = [0u8; CBC_IV_LEN];
    let iv = &mut iv[..if gcm { GCM_IV_LEN } else { CBC_IV_LEN }];
    input.read_exact(iv).map_err(|_| Failed)?;
    let mut evp = evp::EvpCipher::new(cipher, evp::Direction::Decrypt, key.as_bytes(), iv)?;

    // `ciphertext[..held]` is input not yet decrypted, at most TAIL_LEN bytes
    // between reads: it may turn out to be the tail.
    let mut ciphertext = Scratch::new(CHUNK + TAIL_LEN);
    let mut plaintext = Scratch::new(CHUNK + TAIL_LEN);
    let mut held = 0usize;
    let mut body_len = 0u64;
    let mut written = 0u64;
    loop {
        let n = read_some(input, &mut ciphertext[held..])?;
        if n == 0 {
            break;
        }
        body_len += n as u64;
        let have = held + n;
        if have > TAIL_LEN {
            let ready = have - TAIL_LEN;
            let m = evp.update(&ciphertext[..ready], &mut plaintext)?;
            output.write_all(&plaintext[..m]).map_err(|_| Failed)?;
            written += m as u64;
            ciphertext.copy_within(ready..have, 0);
            held = TAIL_LEN;
        } else {
            held = have;
        }
    }
    // Shorter than a tag, or an empty CBC body.
    if held < TAIL_LEN {
        return Err(Failed);
    }
    let mut tail = [0u8; TAIL_LEN];
    tail.copy_from_slice(&ciphertext[..TAIL_LEN]);
    if gcm {
        evp.set_tag(&tail)?;
        // Fails unless the tag authenticates everything decrypted above.
        evp.finish()?;
        Ok(written)
    } else {
        if body_len % AES_BLOCK_LEN as u64 != 0 {
            return Err(Failed);
        }
        // The body before the tail was whole blocks, so this is exactly the
        // last plaintext block; finish() (no padding) checks nothing is left.
        let m = evp.update(&tail, &mut plaintext)?;
        evp.finish()?;
        if m != AES_BLOCK_LEN {
            return Err(Failed);
        }
        let keep = xmlenc_unpadded_len(&plaintext[..AES_BLOCK_LEN]).ok_or(Failed)?;
        output.write_all(&plaintext[..keep]).map_err(|_| Failed)?;
        Ok(written + keep as u64)
    }
}

/// One `read`, retried on `Interrupted`; 0 means end of input.
fn read_some(input: &mut impl Read, buf: &mut [u8]) -> Result<usize, Failed> {
    loop {
        match input.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(Failed),
        }
    }
}

/// A fixed-size heap buffer that may hold plaintext; zeroed on drop.
struct Scratch(Vec<u8>);

impl Scratch {
    fn new(len: usize) -> Self {
        Self(vec![0; len])
    }
}

impl std::ops::Deref for Scratch {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// A minimal safe wrapper over aws-lc's `EVP_CIPHER_CTX` for AES-GCM and
/// unpadded AES-CBC.
mod evp {
    use std::os::raw::c_int;
    use std::ptr::{null, null_mut, NonNull};

    use aws_lc_sys as sys;

    use super::{BlockCipher, Failed, AES_BLOCK_LEN, CBC_IV_LEN, GCM_IV_LEN, GCM_TAG_LEN};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Direction {
        Encrypt,
        Decrypt,
    }

    /// An initialised cipher context: AES-GCM (12-byte IV, no AAD) or
    /// AES-CBC with padding disabled. Freed (and its key schedule cleansed by
    /// aws-lc) on drop.
    pub(super) struct EvpCipher {
        /// Non-null, owned, initialised with a cipher, key and IV.
        ctx: NonNull<sys::EVP_CIPHER_CTX>,
        direction: Direction,
        gcm: bool,
    }

    fn check(ret: c_int) -> Result<(), Failed> {
        if ret == 1 {
            Ok(())
        } else {
            Err(Failed)
        }
    }

    impl EvpCipher {
        pub(super) fn new(cipher: BlockCipher, direction: Direction, key: &[u8], iv: &[u8]) -> Result<Self, Failed> {
            // SAFETY: these return pointers to static, immutable cipher tables.
            let (evp_cipher, gcm) = unsafe {
                match cipher {
                    BlockCipher::Aes128Cbc => (sys::EVP_aes_128_cbc(), false),
                    BlockCipher::Aes256Cbc => (sys::EVP_aes_256_cbc(), false),
                    BlockCipher::Aes128Gcm => (sys::EVP_aes_128_gcm(), true),
                    BlockCipher::Aes256Gcm => (sys::EVP_aes_256_gcm(), true),
                }
            };
            if evp_cipher.is_null() {
                return Err(Failed);
            }
            // EVP reads exactly the cipher's key length and the context's IV
            // length from the pointers given below: refuse any other length.
            // SAFETY: `evp_cipher` is a valid cipher table.
            let key_len = unsafe { sys::EVP_CIPHER_key_length(evp_cipher) } as usize;
            let iv_len = if gcm { GCM_IV_LEN } else { CBC_IV_LEN };
            if key.len() != key_len || key_len != cipher.key_len() || iv.len() != iv_len {
                return Err(Failed);
            }
            // SAFETY: allocates a fresh context; null on allocation failure.
            let ctx = NonNull::new(unsafe { sys::EVP_CIPHER_CTX_new() }).ok_or(Failed)?;
            // From here on, Drop frees the context on every path.
            let this = Self { ctx, direction, gcm };
            let ctx = this.ctx.as_ptr();
            let enc = c_int::from(direction == Direction::Encrypt);
            // SAFETY: `ctx` is a live context. First select the cipher only
            // (key and IV null), so the GCM IV length can be set before the
            // IV is read.
            check(unsafe { sys::EVP_CipherInit_ex(ctx, evp_cipher, null_mut(), null(), null(), enc) })?;
            if gcm {
                // SAFETY: SET_IVLEN takes the length in `arg`, no pointer.
                check(unsafe {
                    sys::EVP_CIPHER_CTX_ctrl(ctx, sys::EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN as c_int, null_mut())
                })?;
            }
            // SAFETY: `key` and `iv` have exactly the lengths checked above
            // (the GCM IV length was just set to GCM_IV_LEN); aws-lc copies
            // both. A null cipher keeps the one selected above.
            check(unsafe { sys::EVP_CipherInit_ex(ctx, null(), null_mut(), key.as_ptr(), iv.as_ptr(), enc) })?;
            if !gcm {
                // XML-Enc's padding is handled by the caller.
                // SAFETY: `ctx` is a live, initialised context.
                check(unsafe { sys::EVP_CIPHER_CTX_set_padding(ctx, 0) })?;
            }
            Ok(this)
        }

        /// Processes `input` and returns how many bytes were written at the
        /// start of `output`, which must have room for `input.len()` plus a
        /// block (EVP may complete a buffered partial CBC block).
        pub(super) fn update(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize, Failed> {
            if output.len() < input.len().checked_add(AES_BLOCK_LEN).ok_or(Failed)? {
                return Err(Failed);
            }
            let in_len = c_int::try_from(input.len()).map_err(|_| Failed)?;
            let mut out_len: c_int = 0;
            // SAFETY: `input` is readable for `in_len` bytes; `output` is
            // non-null (non-empty) and writable for at least in_len + 15
            // bytes, the most EVP_CipherUpdate writes for these ciphers.
            check(unsafe {
                sys::EVP_CipherUpdate(self.ctx.as_ptr(), output.as_mut_ptr(), &mut out_len, input.as_ptr(), in_len)
            })?;
            let out_len = usize::try_from(out_len).map_err(|_| Failed)?;
            assert!(out_len <= output.len(), "EVP_CipherUpdate reported more output than the buffer holds");
            Ok(out_len)
        }

        /// Sets the expected GCM tag before [`Self::finish`] (decryption).
        pub(super) fn set_tag(&mut self, tag: &[u8; GCM_TAG_LEN]) -> Result<(), Failed> {
            if !self.gcm || self.direction != Direction::Decrypt {
                return Err(Failed);
            }
            // SAFETY: SET_TAG copies `arg` (16) bytes from `ptr`, which
            // points to 16 readable bytes; aws-lc does not write through it.
            check(unsafe {
                sys::EVP_CIPHER_CTX_ctrl(
                    self.ctx.as_ptr(),
                    sys::EVP_CTRL_GCM_SET_TAG,
                    GCM_TAG_LEN as c_int,
                    tag.as_ptr() as *mut std::ffi::c_void,
                )
            })
        }

        /// Ends the operation. GCM decryption fails here unless the tag set
        /// by [`Self::set_tag`] matches; unpadded CBC fails on a partial
        /// block. Neither writes output here.
        pub(super) fn finish(&mut self) -> Result<(), Failed> {
            let mut out = [0u8; AES_BLOCK_LEN];
            let mut out_len: c_int = 0;
            // SAFETY: `out` has room for a block, the most Final writes.
            check(unsafe { sys::EVP_CipherFinal_ex(self.ctx.as_ptr(), out.as_mut_ptr(), &mut out_len) })?;
            if out_len != 0 {
                return Err(Failed);
            }
            Ok(())
        }

        /// The GCM tag, after [`Self::finish`] (encryption).
        pub(super) fn tag(&mut self) -> Result<[u8; GCM_TAG_LEN], Failed> {
            if !self.gcm || self.direction != Direction::Encrypt {
                return Err(Failed);
            }
            let mut tag = [0u8; GCM_TAG_LEN];
            // SAFETY: GET_TAG writes `arg` (16) bytes to `ptr`, which points
            // to 16 writable bytes.
            check(unsafe {
                sys::EVP_CIPHER_CTX_ctrl(
                    self.ctx.as_ptr(),
                    sys::EVP_CTRL_GCM_GET_TAG,
                    GCM_TAG_LEN as c_int,
                    tag.as_mut_ptr().cast(),
                )
            })?;
            Ok(tag)
        }
    }

    impl Drop for EvpCipher {
        fn drop(&mut self) {
            // SAFETY: `ctx` came from EVP_CIPHER_CTX_new, is owned by `self`
            // and freed only here. Freeing cleanses the key schedule.
            unsafe { sys::EVP_CIPHER_CTX_free(self.ctx.as_ptr()) }
        }
    }
}

/// Writes base64 (standard alphabet, padded, no line breaks) to the wrapped
/// writer: exactly the `CipherValue` text [`super::encrypt`] writes (through
/// [`super::base64_encode`]).
pub type Base64TextEncoder<W> = base64::write::EncoderWriter<'static, base64::engine::GeneralPurpose, W>;

/// A [`Base64TextEncoder`] over `output`. Call its `finish()` to write the
/// last quantum and padding and get `output` back; dropping it finishes too
/// but loses any write error.
pub fn base64_text_encoder<W: Write>(output: W) -> Base64TextEncoder<W> {
    base64::write::EncoderWriter::new(output, &base64::engine::general_purpose::STANDARD)
}

/// Decodes base64 element text as it is read: XML whitespace (space, tab,
/// CR, LF) anywhere is skipped, the rest must be standard-alphabet base64
/// with canonical padding. Accepts and yields exactly what
/// [`base64::engine::general_purpose::STANDARD`] decodes from the text with
/// its whitespace removed; anything else is an [`io::ErrorKind::InvalidData`]
/// error. Memory is fixed (about 33 KiB) whatever the text's length.
pub struct Base64TextDecoder<R: Read> {
    inner: R,
    /// Raw text as read from `inner`.
    raw: Box<[u8]>,
    /// `work[..pending]`: significant characters not yet decoded, fewer than
    /// 4 between refills; the next read's significant characters follow.
    work: Box<[u8]>,
    pending: usize,
    /// Decoded bytes not yet returned: `decoded[pos..len]`.
    decoded: Box<[u8]>,
    pos: usize,
    len: usize,
    /// A quantum ending in `=` was decoded: only whitespace may follow.
    padded: bool,
    eof: bool,
}

const B64_RAW_CHUNK: usize = 12 * 1024;

fn invalid_data(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl<R: Read> Base64TextDecoder<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            raw: vec![0; B64_RAW_CHUNK].into_boxed_slice(),
            work: vec![0; B64_RAW_CHUNK + 3].into_boxed_slice(),
            pending: 0,
            decoded: vec![0; B64_RAW_CHUNK.div_ceil(4) * 3].into_boxed_slice(),
            pos: 0,
            len: 0,
            padded: false,
            eof: false,
        }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads and decodes text until some bytes are decoded or the text ends.
    ///
    /// Decoding whole quanta as they come, with only the last one allowed to
    /// carry padding, gives the same verdict as decoding the whole text:
    /// base64's checks (alphabet, padding, trailing bits, length) are all
    /// local to a quantum or to the final one.
    fn refill(&mut self) -> io::Result<()> {
        let engine = &base64::engine::general_purpose::STANDARD;
        self.pos = 0;
        self.len = 0;
        while self.len == 0 && !self.eof {
            let n = loop {
                match self.inner.read(&mut self.raw) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                self.eof = true;
                if self.pending > 0 {
                    // An incomplete final quantum: the engine rejects it as
                    // it would at the end of the whole text.
                    self.len =
                        engine.decode_slice(&self.work[..self.pending], &mut self.decoded).map_err(invalid_data)?;
                    self.pending = 0;
                }
                return Ok(());
            }
            let mut count = self.pending;
            for &b in &self.raw[..n] {
                if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                    continue;
                }
                if self.padded {
                    return Err(invalid_data("base64 data after padding"));
                }
                self.work[count] = b;
                count += 1;
            }
            let whole = count / 4 * 4;
            if whole > 0 {
                self.len = engine.decode_slice(&self.work[..whole], &mut self.decoded).map_err(invalid_data)?;
                if self.work[whole - 1] == b'=' {
                    self.padded = true;
                    if count > whole {
                        return Err(invalid_data("base64 data after padding"));
                    }
                }
            }
            self.work.copy_within(whole..count, 0);
            self.pending = count - whole;
        }
        Ok(())
    }
}

impl<R: Read> Read for Base64TextDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos == self.len {
            self.refill()?;
        }
        let k = buf.len().min(self.len - self.pos);
        buf[..k].copy_from_slice(&self.decoded[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::cipher::{EncryptingKey, UnboundCipherKey};
    use base64::engine::general_purpose::STANDARD;

    const SIZES: [usize; 9] = [0, 1, 15, 16, 17, 65535, 65536, 65537, 1_000_003];

    /// Yields 1 to 7 bytes per read, and `Interrupted` now and then.
    struct Trickle<'a> {
        data: &'a [u8],
        calls: usize,
    }

    impl<'a> Trickle<'a> {
        fn new(data: &'a [u8]) -> Self {
            Self { data, calls: 0 }
        }
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 13 == 0 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(1 + self.calls % 7).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Deterministic test bytes (xorshift).
    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    }

    fn stream_encrypt(cipher: BlockCipher, key: &SessionKey, plaintext: &[u8], trickle: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let n = if trickle {
            encrypt_stream(cipher, key, &mut Trickle::new(plaintext), &mut out)
        } else {
            encrypt_stream(cipher, key, &mut &plaintext[..], &mut out)
        }
        .unwrap();
        assert_eq!(n, out.len() as u64);
        out
    }

    fn stream_decrypt(
        cipher: BlockCipher,
        key: &SessionKey,
        sealed: &[u8],
        trickle: bool,
    ) -> Result<Vec<u8>, CipherError> {
        let mut out = Vec::new();
        let n = if trickle {
            decrypt_stream(cipher, key, &mut Trickle::new(sealed), &mut out)
        } else {
            decrypt_stream(cipher, key, &mut &sealed[..], &mut out)
        }?;
        assert_eq!(n, out.len() as u64);
        Ok(out)
    }

    fn sealed_len(cipher: BlockCipher, len: usize) -> usize {
        if is_gcm(cipher) {
            GCM_IV_LEN + len + GCM_TAG_LEN
        } else {
            CBC_IV_LEN + (len / 16 + 1) * 16
        }
    }

    #[test]
    fn stream_encrypt_then_one_shot_decrypt() {
        for cipher in BlockCipher::ALL {
            let key = SessionKey::generate(cipher).unwrap();
            for (i, len) in SIZES.into_iter().enumerate() {
                let plaintext = pseudo_random(len, i as u64 + 7);
                for trickle in [false, true] {
                    let sealed = stream_encrypt(cipher, &key, &plaintext, trickle);
                    assert_eq!(sealed.len(), sealed_len(cipher, len), "{cipher:?} {len}");
                    assert_eq!(cipher.encrypt(&key, plaintext.clone()).unwrap().len(), sealed.len());
                    assert!(cipher.decrypt(&key, sealed).unwrap() == plaintext, "{cipher:?} {len} {trickle}");
                }
            }
        }
    }

    #[test]
    fn one_shot_encrypt_then_stream_decrypt() {
        for cipher in BlockCipher::ALL {
            let key = SessionKey::generate(cipher).unwrap();
            for (i, len) in SIZES.into_iter().enumerate() {
                let plaintext = pseudo_random(len, i as u64 + 99);
                let sealed = cipher.encrypt(&key, plaintext.clone()).unwrap();
                for trickle in [false, true] {
                    let opened = stream_decrypt(cipher, &key, &sealed, trickle).unwrap();
                    assert!(opened == plaintext, "{cipher:?} {len} {trickle}");
                }
            }
        }
    }

    /// With a fixed IV, the stream's bytes are those of the primitives the
    /// one-shot path calls (aws-lc-rs CBC after PKCS#7 padding, ring GCM).
    #[test]
    fn stream_encryption_is_byte_identical_to_the_one_shot_primitives() {
        for cipher in BlockCipher::ALL {
            let key = SessionKey::from_bytes(&pseudo_random(cipher.key_len(), 3));
            for len in [0usize, 1, 16, 17, 65536, 100_001] {
                let plaintext = pseudo_random(len, len as u64);
                let mut expected;
                let iv;
                if is_gcm(cipher) {
                    let nonce: [u8; GCM_IV_LEN] = pseudo_random(GCM_IV_LEN, 5).try_into().unwrap();
                    let algorithm =
                        if cipher.key_len() == 32 { &ring::aead::AES_256_GCM } else { &ring::aead::AES_128_GCM };
                    let sealing =
                        ring::aead::LessSafeKey::new(ring::aead::UnboundKey::new(algorithm, key.as_bytes()).unwrap());
                    expected = nonce.to_vec();
                    expected.extend_from_slice(&plaintext);
                    let tag = sealing
                        .seal_in_place_separate_tag(
                            ring::aead::Nonce::assume_unique_for_key(nonce),
                            ring::aead::Aad::empty(),
                            &mut expected[GCM_IV_LEN..],
                        )
                        .unwrap();
                    expected.extend_from_slice(tag.as_ref());
                    iv = nonce.to_vec();
                } else {
                    let cbc_iv: [u8; CBC_IV_LEN] = pseudo_random(CBC_IV_LEN, 5).try_into().unwrap();
                    let pad = 16 - len % 16;
                    expected = cbc_iv.to_vec();
                    expected.extend_from_slice(&plaintext);
                    expected.resize(expected.len() + pad, pad as u8);
                    cbc_encrypt_raw(cipher, &key, cbc_iv, &mut expected[CBC_IV_LEN..]);
                    iv = cbc_iv.to_vec();
                }
                let mut out = Vec::new();
                let n = encrypt_with_iv(cipher, &key, &iv, &mut Trickle::new(&plaintext), &mut out).unwrap();
                assert_eq!(n, out.len() as u64);
                assert!(out == expected, "{cipher:?} {len}");
            }
        }
    }

    /// Unpadded AES-CBC of whole blocks, with aws-lc-rs.
    fn cbc_encrypt_raw(cipher: BlockCipher, key: &SessionKey, iv: [u8; 16], blocks: &mut [u8]) {
        let algorithm = if cipher.key_len() == 32 { &AES_256 } else { &AES_128 };
        let key = EncryptingKey::cbc(UnboundCipherKey::new(algorithm, key.as_bytes()).unwrap()).unwrap();
        key.less_safe_encrypt(blocks, EncryptionContext::Iv128(FixedLength::from(iv))).unwrap();
    }

    /// `IV || CBC(body)` for a body of whole blocks whose padding we choose.
    fn cbc_sealed_raw(cipher: BlockCipher, key: &SessionKey, body: &[u8]) -> Vec<u8> {
        let iv = [0x42u8; 16];
        let mut sealed = iv.to_vec();
        sealed.extend_from_slice(body);
        cbc_encrypt_raw(cipher, key, iv, &mut sealed[16..]);
        sealed
    }

    #[test]
    fn cbc_padding_follows_xml_enc() {
        for cipher in [BlockCipher::Aes128Cbc, BlockCipher::Aes256Cbc] {
            let key = SessionKey::generate(cipher).unwrap();
            // .NET-style padding: random bytes, then the length.
            for pad in 1..=16usize {
                let data = pseudo_random(64 + 16 - pad, pad as u64);
                let mut body = data.clone();
                body.extend(pseudo_random(pad - 1, 77));
                body.push(pad as u8);
                let sealed = cbc_sealed_raw(cipher, &key, &body);
                assert_eq!(stream_decrypt(cipher, &key, &sealed, true).unwrap(), data);
                assert_eq!(cipher.decrypt(&key, sealed).unwrap(), data);
            }
            // A last byte of 0 or more than 16 is refused, with the same
            // error as every other failure.
            for bad in [0u8, 17, 32, 255] {
                let mut body = pseudo_random(48, 1);
                body[47] = bad;
                let sealed = cbc_sealed_raw(cipher, &key, &body);
                assert_eq!(stream_decrypt(cipher, &key, &sealed, false), Err(CipherError::CannotDecrypt));
                assert_eq!(stream_decrypt(cipher, &key, &sealed, true), Err(CipherError::CannotDecrypt));
                assert_eq!(cipher.decrypt(&key, sealed), Err(CipherError::CannotDecrypt));
            }
        }
    }

    #[test]
    fn tampered_gcm_is_refused() {
        for cipher in [BlockCipher::Aes128Gcm, BlockCipher::Aes256Gcm] {
            let key = SessionKey::generate(cipher).unwrap();
            for len in [0usize, 1, 100, 70_000] {
                let sealed = cipher.encrypt(&key, pseudo_random(len, 9)).unwrap();
                // IV, first and last ciphertext byte, first and last tag byte.
                let mut positions = vec![0, GCM_IV_LEN - 1, sealed.len() - GCM_TAG_LEN, sealed.len() - 1];
                if len > 0 {
                    positions.extend([GCM_IV_LEN, GCM_IV_LEN + len - 1]);
                }
                for at in positions {
                    let mut bad = sealed.clone();
                    bad[at] ^= 0x01;
                    for trickle in [false, true] {
                        assert_eq!(stream_decrypt(cipher, &key, &bad, trickle), Err(CipherError::CannotDecrypt));
                    }
                }
                let mut longer = sealed.clone();
                longer.push(0);
                assert_eq!(stream_decrypt(cipher, &key, &longer, false), Err(CipherError::CannotDecrypt));
            }
        }
    }

    #[test]
    fn truncated_input_is_refused() {
        for cipher in BlockCipher::ALL {
            let key = SessionKey::generate(cipher).unwrap();
            let sealed = cipher.encrypt(&key, pseudo_random(100, 4)).unwrap();
            let iv_len = if is_gcm(cipher) { GCM_IV_LEN } else { CBC_IV_LEN };
            let mut lengths = vec![0, 1, iv_len - 1, iv_len, iv_len + 1, iv_len + 15, sealed.len() - 1];
            if !is_gcm(cipher) {
                // Not a multiple of the block size.
                lengths.extend([iv_len + 17, iv_len + 31, sealed.len() - 15]);
            } else {
                // Shorter than IV + tag, or missing tag bytes.
                lengths.extend([iv_len + 15, sealed.len() - 16, sealed.len() - 8]);
            }
            for len in lengths {
                for trickle in [false, true] {
                    assert_eq!(
                        stream_decrypt(cipher, &key, &sealed[..len], trickle),
                        Err(CipherError::CannotDecrypt),
                        "{cipher:?} {len}"
                    );
                }
                assert_eq!(cipher.decrypt(&key, sealed[..len].to_vec()), Err(CipherError::CannotDecrypt));
            }
            // Every prefix: the stream accepts exactly what the one-shot does
            // (a CBC prefix of whole blocks may unpad by chance).
            for len in 0..sealed.len() {
                let one_shot = cipher.decrypt(&key, sealed[..len].to_vec());
                assert_eq!(stream_decrypt(cipher, &key, &sealed[..len], true), one_shot, "{cipher:?} {len}");
            }
        }
    }

    #[test]
    fn wrong_key_is_refused() {
        for cipher in BlockCipher::ALL {
            let key = SessionKey::generate(cipher).unwrap();
            let sealed = cipher.encrypt(&key, b"payload".to_vec()).unwrap();
            let short = SessionKey::from_bytes(&[1; 8]);
            assert_eq!(stream_decrypt(cipher, &short, &sealed, false), Err(CipherError::CannotDecrypt));
            let mut out = Vec::new();
            assert_eq!(encrypt_stream(cipher, &short, &mut &b"x"[..], &mut out), Err(CipherError::EncryptionFailed));
            for fill in 1..=20u8 {
                let other = SessionKey::from_bytes(&vec![fill; cipher.key_len()]);
                let streamed = stream_decrypt(cipher, &other, &sealed, false);
                // CBC under a wrong key unpads by chance 1 time in 16, to
                // garbage; the stream then agrees with the one-shot path.
                assert_eq!(streamed, cipher.decrypt(&other, sealed.clone()));
                if is_gcm(cipher) {
                    assert_eq!(streamed, Err(CipherError::CannotDecrypt));
                }
                assert_ne!(streamed.as_deref().ok(), Some(&b"payload"[..]));
            }
        }
        // A deterministic CBC case that fails on the padding byte.
        let cipher = BlockCipher::Aes256Cbc;
        let key = SessionKey::from_bytes(&[7; 32]);
        let mut sealed = Vec::new();
        encrypt_with_iv(cipher, &key, &[9; 16], &mut &b"payload"[..], &mut sealed).unwrap();
        let wrong = (1..=255u8)
            .map(|b| SessionKey::from_bytes(&[b; 32]))
            .find(|k| k.as_bytes() != key.as_bytes() && cipher.decrypt(k, sealed.clone()).is_err())
            .unwrap();
        assert_eq!(stream_decrypt(cipher, &wrong, &sealed, true), Err(CipherError::CannotDecrypt));
    }

    struct FailingReader;
    impl Read for FailingReader {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk"))
        }
    }

    struct FailingWriter;
    impl Write for FailingWriter {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn io_errors_are_the_single_error() {
        for cipher in BlockCipher::ALL {
            let key = SessionKey::generate(cipher).unwrap();
            let sealed = cipher.encrypt(&key, pseudo_random(1000, 1)).unwrap();
            let mut failing_after_iv = (&sealed[..20]).chain(FailingReader);
            assert_eq!(
                decrypt_stream(cipher, &key, &mut failing_after_iv, &mut Vec::new()),
                Err(CipherError::CannotDecrypt)
            );
            assert_eq!(
                decrypt_stream(cipher, &key, &mut &sealed[..], &mut FailingWriter),
                Err(CipherError::CannotDecrypt)
            );
            assert_eq!(
                encrypt_stream(cipher, &key, &mut FailingReader, &mut Vec::new()),
                Err(CipherError::EncryptionFailed)
            );
            assert_eq!(
                encrypt_stream(cipher, &key, &mut &b"abc"[..], &mut FailingWriter),
                Err(CipherError::EncryptionFailed)
            );
        }
    }

    fn stream_b64_decode(text: &[u8], trickle: bool) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        if trickle {
            Base64TextDecoder::new(Trickle::new(text)).read_to_end(&mut out)?;
        } else {
            Base64TextDecoder::new(text).read_to_end(&mut out)?;
        }
        Ok(out)
    }

    fn reference_b64_decode(text: &[u8]) -> Option<Vec<u8>> {
        let compact: Vec<u8> = text.iter().copied().filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n')).collect();
        STANDARD.decode(compact).ok()
    }

    fn assert_b64_matches(text: &[u8]) {
        let expected = reference_b64_decode(text);
        for trickle in [false, true] {
            let got = stream_b64_decode(text, trickle);
            if let Err(e) = &got {
                assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            }
            assert_eq!(got.ok(), expected, "{:?} trickle={trickle}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn base64_decoder_skips_xml_whitespace_anywhere() {
        for len in [0usize, 1, 2, 3, 4, 5, 57, 1000, 100_000] {
            let data = pseudo_random(len, len as u64 + 1);
            let encoded = STANDARD.encode(&data);
            // Line breaks every 76 and 64 columns, CRLF, and whitespace
            // between every character (inside the padding too).
            let wrapped76: Vec<u8> =
                encoded.as_bytes().chunks(76).flat_map(|l| l.iter().copied().chain(*b"\n")).collect();
            let wrapped64: Vec<u8> =
                encoded.as_bytes().chunks(64).flat_map(|l| l.iter().copied().chain(*b"\r\n")).collect();
            let spread: Vec<u8> = encoded.bytes().flat_map(|b| [b, b" \t\r\n"[usize::from(b) % 4]]).collect();
            let indented = [&b"\n    "[..], encoded.as_bytes(), b"\n  "].concat();
            for text in [encoded.as_bytes(), &wrapped76, &wrapped64, &spread, &indented] {
                assert_eq!(stream_b64_decode(text, false).unwrap(), data);
                assert_eq!(stream_b64_decode(text, true).unwrap(), data);
            }
        }
    }

    #[test]
    fn base64_decoder_agrees_with_the_standard_engine() {
        let cases: [&[u8]; 30] = [
            b"",
            b"  \n ",
            b"A",
            b"AA",
            b"AAA",
            b"AAAA",
            b"AA==",
            b"AA=",
            b"AA=A",
            b"A===",
            b"====",
            b"AAA=",
            b"AAB=",
            b"AB==",
            b"AA==AAAA",
            b"AAAA\nAA==\n",
            b"AA==\n\n",
            b"AA==A",
            b"AA===",
            b"AAAA====",
            b"AA*A",
            b"AAAA-AAA",
            b"AAAA_AAA",
            "AAA\u{e9}".as_bytes(),
            b"AB\tCD\r\nEF==",
            b"Zm9v\x0cYmFy",
            b"Zm9vYmFy",
            b"Zm9v YmE=",
            b"Zm9v\0YmE=",
            b"A A = =",
        ];
        for text in cases {
            assert_b64_matches(text);
        }
        // Random strings over a small alphabet with padding, whitespace and
        // invalid characters.
        let alphabet = b"AQgw+/=  \n\r\t*-";
        let mut seed = 1u64;
        for _ in 0..20_000 {
            seed += 1;
            let noise = pseudo_random(41, seed);
            let len = usize::from(noise[0]) % 40;
            let text: Vec<u8> = noise[1..=len].iter().map(|b| alphabet[usize::from(*b) % alphabet.len()]).collect();
            assert_b64_matches(&text);
        }
    }

    #[test]
    fn base64_decoder_rejects_errors_past_its_buffer() {
        // Invalid content and padding far into a long text, across buffer
        // boundaries.
        let encoded = STANDARD.encode(pseudo_random(50_000, 2));
        for at in [0usize, 4, 12_287, 12_288, 40_000, encoded.len() - 1] {
            let mut bad = encoded.clone().into_bytes();
            bad[at] = b'*';
            assert_b64_matches(&bad);
            let mut padded_early = encoded.clone().into_bytes();
            padded_early[at] = b'=';
            assert_b64_matches(&padded_early);
        }
    }

    #[test]
    fn base64_encoder_writes_what_encrypt_writes() {
        for len in (0usize..40).chain([1000, 100_000]) {
            let data = pseudo_random(len, 11);
            let mut encoder = base64_text_encoder(Vec::new());
            for piece in data.chunks(1 + len % 7) {
                encoder.write_all(piece).unwrap();
            }
            let text = encoder.finish().unwrap();
            assert_eq!(String::from_utf8(text).unwrap(), super::super::base64_encode(&data));
        }
    }

    #[test]
    fn encrypted_base64_round_trip() {
        for cipher in BlockCipher::ALL {
            let key = SessionKey::generate(cipher).unwrap();
            let plaintext = pseudo_random(200_000, 8);
            let mut encoder = base64_text_encoder(Vec::new());
            encrypt_stream(cipher, &key, &mut Trickle::new(&plaintext), &mut encoder).unwrap();
            let text = encoder.finish().unwrap();
            let one_shot = cipher.decrypt(&key, STANDARD.decode(&text).unwrap()).unwrap();
            assert!(one_shot == plaintext);
            let wrapped: Vec<u8> = text.chunks(76).flat_map(|l| l.iter().copied().chain(*b"\r\n")).collect();
            let mut opened = Vec::new();
            decrypt_stream(cipher, &key, &mut Base64TextDecoder::new(Trickle::new(&wrapped)), &mut opened).unwrap();
            assert!(opened == plaintext);
            // Invalid base64 inside the ciphertext text is the one error.
            let mut bad = wrapped.clone();
            bad[1000] = b'*';
            assert_eq!(
                decrypt_stream(cipher, &key, &mut Base64TextDecoder::new(&bad[..]), &mut Vec::new()),
                Err(CipherError::CannotDecrypt)
            );
        }
    }
}
