//! Large data kept on disk instead of in memory.
//!
//! SDK's transport profile requires access points to carry messages of at
//! least 100 MB. Holding such a message in memory once per processing step
//! would cost several times its size, so every stage that can see a large
//! message writes into a [`BlobWriter`] and hands on a [`Blob`]: small data
//! stays in memory (the common case, and the fast one), anything above the
//! spool's threshold goes to a temporary file in the spool directory.
//!
//! A file-backed blob is deleted when its last handle is dropped, so a
//! failed or rejected message leaves nothing behind; [`Blob::persist`]
//! keeps one (fsynced) where the store wants it.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::{Body, Bytes, Frame, SizeHint};

use tempfile::TempPath;

/// Data up to this size stays in memory.
pub const DEFAULT_MEMORY_THRESHOLD: usize = 1024 * 1024;

/// Read and write buffer size for file-backed blobs.
pub const IO_BUFFER: usize = 64 * 1024;

/// Where large data is written while a message is processed.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: Arc<PathBuf>,
    memory_threshold: usize,
}

impl Spool {
    /// A spool in `dir` (created if missing). Files left there by a process
    /// that died are removed: nothing in a spool outlives its process.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Spool> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(FILE_PREFIX) {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Spool { dir: Arc::new(dir), memory_threshold: DEFAULT_MEMORY_THRESHOLD })
    }

    /// A spool in the system's temporary directory, for tools and tests.
    pub fn temporary() -> Spool {
        Spool { dir: Arc::new(std::env::temp_dir()), memory_threshold: DEFAULT_MEMORY_THRESHOLD }
    }

    /// The same spool with another in-memory threshold (tests use 0 to
    /// force every blob onto disk).
    pub fn with_memory_threshold(mut self, bytes: usize) -> Spool {
        self.memory_threshold = bytes;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn memory_threshold(&self) -> usize {
        self.memory_threshold
    }

    /// A writer that refuses to grow beyond `limit` bytes.
    pub fn writer(&self, limit: u64) -> BlobWriter {
        BlobWriter { spool: self.clone(), limit, written: 0, sink: Sink::Memory(Vec::new()) }
    }

    /// Copies `reader` into a blob of at most `limit` bytes.
    pub fn copy_from(&self, reader: &mut impl Read, limit: u64) -> io::Result<Blob> {
        let mut writer = self.writer(limit);
        io::copy(reader, &mut writer)?;
        writer.finish()
    }
}

const FILE_PREFIX: &str = "brygga-spool-";

enum Sink {
    Memory(Vec<u8>),
    File { file: io::BufWriter<File>, path: TempPath },
}

/// Collects data for a [`Blob`], in memory until the spool's threshold.
pub struct BlobWriter {
    spool: Spool,
    limit: u64,
    written: u64,
    sink: Sink,
}

/// The error a [`BlobWriter`] returns when its limit is passed.
#[derive(Debug, thiserror::Error)]
#[error("more than {limit} bytes")]
pub struct TooLarge {
    pub limit: u64,
}

impl TooLarge {
    /// Whether `error` is a [`BlobWriter`] refusing to pass its limit (and
    /// not, say, the file system's own `EFBIG`).
    pub fn is(error: &io::Error) -> bool {
        error.get_ref().is_some_and(|inner| inner.is::<TooLarge>())
    }
}

impl BlobWriter {
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Ends writing; a file-backed blob is flushed (not fsynced: a spool
    /// file never needs to survive a crash).
    pub fn finish(self) -> io::Result<Blob> {
        let inner = match self.sink {
            Sink::Memory(bytes) => BlobInner::Memory(bytes.into()),
            Sink::File { file, path } => {
                let file = file.into_inner().map_err(|e| e.into_error())?;
                drop(file);
                BlobInner::File { path: FilePath::Temporary(path), len: self.written }
            }
        };
        Ok(Blob { inner: Arc::new(inner), offset: 0, len: self.written })
    }

    fn spill(&mut self) -> io::Result<()> {
        if let Sink::Memory(bytes) = &self.sink {
            let named = tempfile::Builder::new().prefix(FILE_PREFIX).tempfile_in(self.spool.dir())?;
            let (file, path) = named.into_parts();
            let mut file = io::BufWriter::with_capacity(IO_BUFFER, file);
            file.write_all(bytes)?;
            self.sink = Sink::File { file, path };
        }
        Ok(())
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written + buf.len() as u64 > self.limit {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, TooLarge { limit: self.limit }));
        }
        if let Sink::Memory(bytes) = &self.sink {
            if bytes.len() + buf.len() > self.spool.memory_threshold {
                self.spill()?;
            }
        }
        match &mut self.sink {
            Sink::Memory(bytes) => bytes.extend_from_slice(buf),
            Sink::File { file, .. } => file.write_all(buf)?,
        }
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Memory(_) => Ok(()),
            Sink::File { file, .. } => file.flush(),
        }
    }
}

enum BlobInner {
    Memory(Arc<[u8]>),
    File { path: FilePath, len: u64 },
}

/// A spool file (deleted with the blob) or a file someone else keeps.
enum FilePath {
    Temporary(TempPath),
    Kept(PathBuf),
}

impl std::ops::Deref for FilePath {
    type Target = Path;
    fn deref(&self) -> &Path {
        match self {
            FilePath::Temporary(p) => p,
            FilePath::Kept(p) => p,
        }
    }
}

/// Immutable data in memory or in a spool file; cheap to clone.
///
/// A blob may be a view of part of another's storage ([`Blob::sub_range`]):
/// `offset` and `len` say which part, and the storage lives as long as any
/// view of it.
#[derive(Clone)]
pub struct Blob {
    inner: Arc<BlobInner>,
    offset: u64,
    len: u64,
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &*self.inner {
            BlobInner::Memory(_) => "memory",
            BlobInner::File { .. } => "file",
        };
        if self.offset == 0 && self.len == self.storage_len() {
            write!(f, "Blob({kind}, {} bytes)", self.len)
        } else {
            write!(f, "Blob({kind}, {} bytes at {} of {})", self.len, self.offset, self.storage_len())
        }
    }
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Blob {
        Blob::memory(bytes.into())
    }
}

impl From<&Vec<u8>> for Blob {
    fn from(bytes: &Vec<u8>) -> Blob {
        Blob::from(bytes.as_slice())
    }
}

impl<const N: usize> From<&[u8; N]> for Blob {
    fn from(bytes: &[u8; N]) -> Blob {
        Blob::from(bytes.as_slice())
    }
}

impl From<&Blob> for Blob {
    fn from(blob: &Blob) -> Blob {
        blob.clone()
    }
}

impl From<&[u8]> for Blob {
    fn from(bytes: &[u8]) -> Blob {
        Blob::memory(bytes.into())
    }
}

impl Blob {
    /// A blob reading an existing file, which stays when the blob is dropped
    /// (the store's payload files).
    pub fn open_file(path: impl Into<PathBuf>) -> io::Result<Blob> {
        let path = path.into();
        let len = fs::metadata(&path)?.len();
        Ok(Blob { inner: Arc::new(BlobInner::File { path: FilePath::Kept(path), len }), offset: 0, len })
    }

    fn memory(bytes: Arc<[u8]>) -> Blob {
        let len = bytes.len() as u64;
        Blob { inner: Arc::new(BlobInner::Memory(bytes)), offset: 0, len }
    }

    /// Length of the whole storage this blob is a view of.
    fn storage_len(&self) -> u64 {
        match &*self.inner {
            BlobInner::Memory(bytes) => bytes.len() as u64,
            BlobInner::File { len, .. } => *len,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether both handles are the same blob.
    pub fn same(&self, other: &Blob) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) && self.offset == other.offset && self.len == other.len
    }

    /// The bytes, when the blob is in memory.
    pub fn as_memory(&self) -> Option<&[u8]> {
        match &*self.inner {
            BlobInner::Memory(bytes) => Some(&bytes[self.offset as usize..(self.offset + self.len) as usize]),
            BlobInner::File { .. } => None,
        }
    }

    /// The spool file, when the blob is on disk and is the whole file. A
    /// [`Blob::sub_range`] view of part of a file has none: the file holds
    /// more than the blob.
    pub fn path(&self) -> Option<&Path> {
        match &*self.inner {
            BlobInner::File { path, .. } if self.offset == 0 && self.len == self.storage_len() => Some(path),
            _ => None,
        }
    }

    /// Reads the whole blob.
    pub fn reader(&self) -> io::Result<BlobReader> {
        self.range(0, self.len())
    }

    fn check_range(&self, offset: u64, len: u64) -> io::Result<()> {
        if offset.checked_add(len).is_none_or(|end| end > self.len()) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "range outside the blob"));
        }
        Ok(())
    }

    /// Reads `len` bytes from `offset`.
    pub fn range(&self, offset: u64, len: u64) -> io::Result<BlobReader> {
        self.check_range(offset, len)?;
        let start = self.offset + offset;
        Ok(match &*self.inner {
            BlobInner::Memory(bytes) => {
                let mut cursor = Cursor::new(Arc::clone(bytes));
                cursor.set_position(start);
                BlobReader::Memory(cursor.take(len))
            }
            BlobInner::File { path, .. } => {
                let mut file = File::open(&**path)?;
                file.seek(SeekFrom::Start(start))?;
                BlobReader::File(BufReader::with_capacity(IO_BUFFER, file).take(len))
            }
        })
    }

    /// `len` bytes from `offset` as a view that shares this blob's memory or
    /// file: nothing is copied, and the storage lives as long as the view.
    pub fn sub_range(&self, offset: u64, len: u64) -> io::Result<Blob> {
        self.check_range(offset, len)?;
        Ok(Blob { inner: Arc::clone(&self.inner), offset: self.offset + offset, len })
    }

    /// A sub-range as a blob of its own (copied when file-backed, so that
    /// it does not keep the rest of the file); see [`Blob::sub_range`] for a
    /// view without a copy.
    pub fn slice(&self, spool: &Spool, offset: u64, len: u64) -> io::Result<Blob> {
        self.check_range(offset, len)?;
        match self.as_memory() {
            Some(bytes) => Ok(Blob::from(&bytes[offset as usize..(offset + len) as usize])),
            None => spool.copy_from(&mut self.range(offset, len)?, len),
        }
    }

    /// The whole blob in memory; refused above `max` bytes so that a caller
    /// expecting something small cannot be made to load something large.
    pub fn to_vec(&self, max: u64) -> io::Result<Vec<u8>> {
        if self.len() > max {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, TooLarge { limit: max }));
        }
        match self.as_memory() {
            Some(bytes) => Ok(bytes.to_vec()),
            None => {
                let mut out = Vec::with_capacity(self.len() as usize);
                self.reader()?.read_to_end(&mut out)?;
                Ok(out)
            }
        }
    }

    /// Writes the blob to `dest` durably: the file's data and its directory
    /// entry are fsynced before this returns.
    pub fn persist(&self, dest: &Path) -> io::Result<()> {
        let tmp = dest.with_extension("partial");
        {
            let mut out = File::create(&tmp)?;
            io::copy(&mut self.reader()?, &mut out)?;
            out.sync_all()?;
        }
        fs::rename(&tmp, dest)?;
        if let Some(parent) = dest.parent() {
            File::open(parent)?.sync_all()?;
        }
        Ok(())
    }

    /// Feeds every byte to `f` in chunks, without loading the blob.
    pub fn for_each_chunk(&self, mut f: impl FnMut(&[u8])) -> io::Result<()> {
        if let Some(bytes) = self.as_memory() {
            f(bytes);
            return Ok(());
        }
        let mut reader = self.reader()?;
        loop {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            f(chunk);
            let n = chunk.len();
            reader.consume(n);
        }
    }
}

/// Reader over a [`Blob`] or a range of one.
pub enum BlobReader {
    Memory(io::Take<Cursor<Arc<[u8]>>>),
    File(io::Take<BufReader<File>>),
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BlobReader::Memory(r) => r.read(buf),
            BlobReader::File(r) => r.read(buf),
        }
    }
}

impl BufRead for BlobReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            BlobReader::Memory(r) => r.fill_buf(),
            BlobReader::File(r) => r.fill_buf(),
        }
    }

    fn consume(&mut self, amount: usize) {
        match self {
            BlobReader::Memory(r) => r.consume(amount),
            BlobReader::File(r) => r.consume(amount),
        }
    }
}

/// A reader or writer that remembers its first I/O error. Codecs (gzip,
/// the streaming ciphers) turn every failure into one of their own; with
/// this, a disk error of ours is told apart from bad input.
pub struct Recorded<T> {
    inner: T,
    error: Option<String>,
}

impl<T> Recorded<T> {
    pub fn new(inner: T) -> Self {
        Self { inner, error: None }
    }

    /// The first I/O error, if there was one.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    pub fn into_inner(self) -> T {
        self.inner
    }

    fn record<V>(&mut self, result: io::Result<V>) -> io::Result<V> {
        if let Err(e) = &result {
            self.error.get_or_insert_with(|| e.to_string());
        }
        result
    }
}

impl<R: Read> Read for Recorded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.inner.read(buf);
        self.record(result)
    }
}

impl<R: BufRead> BufRead for Recorded<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if let Err(e) = self.inner.fill_buf() {
            self.error.get_or_insert_with(|| e.to_string());
            return Err(e);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount)
    }
}

impl<W: Write> Write for Recorded<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.inner.write(buf);
        self.record(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = self.inner.flush();
        self.record(result)
    }
}

/// Why an HTTP request body could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Over the limit; `size` is the declared length, or how far reading
    /// got (a lower bound).
    #[error("the body is {size} bytes or more, over the limit of {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("the request body could not be read: {0}")]
    Read(String),
    /// Our own disk failed: not the client's fault.
    #[error("spool: {0}")]
    Storage(io::Error),
}

/// Writes an HTTP request body into the spool, refusing it as soon as it
/// passes `limit`: a declared `Content-Length` over it before anything is
/// read, otherwise the chunk that crosses it. Nothing of a refused body is
/// kept.
pub async fn spool_http_body(
    spool: &Spool,
    declared_len: Option<u64>,
    mut body: axum::body::Body,
    limit: u64,
) -> Result<Blob, BodyError> {
    use http_body_util::BodyExt as _;
    if let Some(size) = declared_len.filter(|&length| length > limit) {
        return Err(BodyError::TooLarge { size, limit });
    }
    let mut writer = spool.writer(limit);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        let Ok(data) = frame.into_data() else { continue }; // trailers
        // Buffered (64 KiB) writes to the page cache: brief enough for a
        // runtime thread.
        if let Err(e) = writer.write_all(&data) {
            return Err(if TooLarge::is(&e) {
                BodyError::TooLarge { size: writer.written() + data.len() as u64, limit }
            } else {
                BodyError::Storage(e)
            });
        }
    }
    writer.finish().map_err(BodyError::Storage)
}

/// An HTTP body (for hyper, and reqwest through `reqwest::Body::wrap`) of
/// exactly `len` bytes read from a blocking reader, such as a
/// [`BlobReader`]: a task on tokio's blocking pool reads it in
/// [`IO_BUFFER`] chunks, at most a few chunks ahead of the network. The
/// exact size hint makes the client send `Content-Length`.
pub struct ReaderBody {
    chunks: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    remaining: u64,
}

/// Chunks read ahead of the network.
const READ_AHEAD: usize = 4;

impl ReaderBody {
    /// Starts reading `reader`; must be called within a tokio runtime. The
    /// reading task stops when the body is dropped.
    pub fn new(reader: impl Read + Send + 'static, len: u64) -> ReaderBody {
        let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
        tokio::task::spawn_blocking(move || {
            let mut reader = reader.take(len);
            loop {
                let mut buf = vec![0u8; IO_BUFFER];
                let item = match reader.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        Ok(Bytes::from(buf))
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = item.is_err();
                if tx.blocking_send(item).is_err() || failed {
                    return; // the body was dropped, or the reader failed
                }
            }
        });
        ReaderBody { chunks: rx, remaining: len }
    }
}

impl Body for ReaderBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.chunks.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(bytes))) => {
                self.remaining = self.remaining.saturating_sub(bytes.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) if self.remaining > 0 => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the body ended {} bytes short", self.remaining),
            )))),
            Poll::Ready(None) => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool(threshold: usize) -> (tempfile::TempDir, Spool) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool")).unwrap().with_memory_threshold(threshold);
        (dir, spool)
    }

    fn files_in(spool: &Spool) -> usize {
        fs::read_dir(spool.dir()).unwrap().count()
    }

    #[test]
    fn small_data_stays_in_memory_and_large_data_goes_to_a_file_deleted_on_drop() {
        let (_dir, spool) = spool(16);
        let small = spool.copy_from(&mut &b"0123456789"[..], 100).unwrap();
        assert_eq!(small.as_memory(), Some(&b"0123456789"[..]));
        assert_eq!(files_in(&spool), 0);

        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let large = spool.copy_from(&mut &data[..], 1 << 20).unwrap();
        assert!(large.path().is_some());
        assert_eq!(large.len(), data.len() as u64);
        assert_eq!(large.to_vec(1 << 20).unwrap(), data);
        let mut middle = Vec::new();
        large.range(70_000, 1000).unwrap().read_to_end(&mut middle).unwrap();
        assert_eq!(middle, &data[70_000..71_000]);
        assert_eq!(files_in(&spool), 1);
        let copy = large.clone();
        drop(large);
        assert_eq!(files_in(&spool), 1, "a clone keeps the file");
        drop(copy);
        assert_eq!(files_in(&spool), 0);
    }

    #[test]
    fn limits_and_ranges_are_enforced() {
        let (_dir, spool) = spool(4);
        let err = spool.copy_from(&mut &[0u8; 101][..], 100).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(TooLarge::is(&err));
        assert!(!TooLarge::is(&io::Error::from(io::ErrorKind::FileTooLarge)));
        let blob = spool.copy_from(&mut &[1u8; 10][..], 100).unwrap();
        assert!(blob.range(5, 6).is_err());
        assert!(blob.range(u64::MAX, 2).is_err());
        assert!(blob.to_vec(9).is_err());
    }

    #[test]
    fn persist_writes_a_durable_copy_and_a_new_spool_clears_leftovers() {
        let (dir, spool) = spool(0);
        let blob = spool.copy_from(&mut &b"payload"[..], 100).unwrap();
        let dest = dir.path().join("kept.bin");
        blob.persist(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"payload");
        std::mem::forget(blob); // as if the process died
        assert_eq!(files_in(&spool), 1);
        let again = Spool::new(spool.dir()).unwrap();
        assert_eq!(files_in(&again), 0);
    }

    #[test]
    fn sub_ranges_are_views_that_share_the_storage() {
        for threshold in [0, 1 << 20] {
            let (_dir, spool) = spool(threshold);
            let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
            let blob = spool.copy_from(&mut &data[..], 1 << 20).unwrap();
            let files = files_in(&spool);
            let view = blob.sub_range(1000, 150_000).unwrap();
            assert_eq!(files_in(&spool), files, "no copy");
            assert_eq!(view.len(), 150_000);
            assert_eq!(view.to_vec(u64::MAX).unwrap(), &data[1000..151_000]);
            assert!(view.path().is_none(), "a view is not its whole file");
            assert_eq!(blob.path().is_some(), threshold == 0);
            // A view of a view, ranges and chunks are relative to the view.
            let inner = view.sub_range(10, 20).unwrap();
            assert_eq!(inner.to_vec(20).unwrap(), &data[1010..1030]);
            let mut middle = Vec::new();
            view.range(100, 50).unwrap().read_to_end(&mut middle).unwrap();
            assert_eq!(middle, &data[1100..1150]);
            let mut chunked = Vec::new();
            view.for_each_chunk(|c| chunked.extend_from_slice(c)).unwrap();
            assert_eq!(chunked, &data[1000..151_000]);
            assert_eq!(view.slice(&spool, 5, 10).unwrap().to_vec(10).unwrap(), &data[1005..1015]);
            assert!(view.sub_range(149_999, 2).is_err());
            assert!(view.range(150_000, 1).is_err());
            assert!(view.sub_range(150_000, 0).unwrap().is_empty());
            // The view keeps the file when the blob is gone.
            drop(blob);
            assert_eq!(view.to_vec(u64::MAX).unwrap(), &data[1000..151_000]);
            drop((view, inner));
            assert_eq!(files_in(&spool), 0);
        }
    }

    #[test]
    fn a_reader_body_streams_exactly_its_length() {
        use http_body_util::BodyExt;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (_dir, spool) = spool(0);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let blob = spool.copy_from(&mut &data[..], 1 << 20).unwrap();
        runtime.block_on(async {
            let body = ReaderBody::new(blob.reader().unwrap(), blob.len());
            assert_eq!(body.size_hint().exact(), Some(300_000));
            assert_eq!(body.collect().await.unwrap().to_bytes(), data);
            // A reader shorter than announced is an error, not a short body.
            let short = ReaderBody::new(io::Cursor::new(vec![1u8; 10]), 11);
            assert!(short.collect().await.is_err());
        });
    }
}
