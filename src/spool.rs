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
use std::io::{self, BufReader, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        Ok(Blob(Arc::new(inner)))
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
#[derive(Clone)]
pub struct Blob(Arc<BlobInner>);

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            BlobInner::Memory(bytes) => write!(f, "Blob(memory, {} bytes)", bytes.len()),
            BlobInner::File { len, .. } => write!(f, "Blob(file, {len} bytes)"),
        }
    }
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Blob {
        Blob(Arc::new(BlobInner::Memory(bytes.into())))
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
        Blob(Arc::new(BlobInner::Memory(bytes.into())))
    }
}

impl Blob {
    /// A blob reading an existing file, which stays when the blob is dropped
    /// (the store's payload files).
    pub fn open_file(path: impl Into<PathBuf>) -> io::Result<Blob> {
        let path = path.into();
        let len = fs::metadata(&path)?.len();
        Ok(Blob(Arc::new(BlobInner::File { path: FilePath::Kept(path), len })))
    }

    pub fn len(&self) -> u64 {
        match &*self.0 {
            BlobInner::Memory(bytes) => bytes.len() as u64,
            BlobInner::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether both handles are the same blob.
    pub fn same(&self, other: &Blob) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The bytes, when the blob is in memory.
    pub fn as_memory(&self) -> Option<&[u8]> {
        match &*self.0 {
            BlobInner::Memory(bytes) => Some(bytes),
            BlobInner::File { .. } => None,
        }
    }

    /// The spool file, when the blob is on disk.
    pub fn path(&self) -> Option<&Path> {
        match &*self.0 {
            BlobInner::Memory(_) => None,
            BlobInner::File { path, .. } => Some(path),
        }
    }

    /// Reads the whole blob.
    pub fn reader(&self) -> io::Result<BlobReader> {
        self.range(0, self.len())
    }

    /// Reads `len` bytes from `offset`.
    pub fn range(&self, offset: u64, len: u64) -> io::Result<BlobReader> {
        if offset.checked_add(len).is_none_or(|end| end > self.len()) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "range outside the blob"));
        }
        Ok(match &*self.0 {
            BlobInner::Memory(bytes) => {
                let mut cursor = Cursor::new(Arc::clone(bytes));
                cursor.set_position(offset);
                BlobReader::Memory(cursor.take(len))
            }
            BlobInner::File { path, .. } => {
                let mut file = File::open(&**path)?;
                file.seek(SeekFrom::Start(offset))?;
                BlobReader::File(BufReader::with_capacity(IO_BUFFER, file).take(len))
            }
        })
    }

    /// A sub-range as a blob of its own (copied when file-backed).
    pub fn slice(&self, spool: &Spool, offset: u64, len: u64) -> io::Result<Blob> {
        match &*self.0 {
            BlobInner::Memory(bytes) => Ok(Blob::from(&bytes[offset as usize..(offset + len) as usize])),
            BlobInner::File { .. } => spool.copy_from(&mut self.range(offset, len)?, len),
        }
    }

    /// The whole blob in memory; refused above `max` bytes so that a caller
    /// expecting something small cannot be made to load something large.
    pub fn to_vec(&self, max: u64) -> io::Result<Vec<u8>> {
        if self.len() > max {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, TooLarge { limit: max }));
        }
        match &*self.0 {
            BlobInner::Memory(bytes) => Ok(bytes.to_vec()),
            BlobInner::File { .. } => {
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
        let mut buf = vec![0u8; IO_BUFFER];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            f(&buf[..n]);
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
}
