//! Segment bytes held in sealed memory files (Linux memfd), so that the transport can hand them
//! to the kernel with `sendfile` instead of copying them into every client's socket.
//!
//! A [`Buffer`] collects a body of known length; a large one goes into a fresh memfd, which is
//! then sealed (no byte can change, the size is fixed: the kernel may still be sending its
//! pages after acebox has let go of it) and mapped read-only, so the result is an ordinary
//! [`Bytes`] that every other path (hyper's `writev`, the TS fallback, tests) reads as memory.
//! A table of the live mappings lets the transport find the file behind a slice of one
//! ([`find`]) and the ring count what a segment really holds, whole pages ([`held`]). Anything
//! that fails (no memfd on the kernel, out of descriptors) falls back to heap memory.
//!
//! Owns those files, their mappings and the table; never sends a byte and never decides what
//! is stored.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use rustix::fs::{FallocateFlags, MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};

/// Bodies smaller than this stay in heap memory: a playlist or a JSON answer gains nothing
/// from a file of its own, and every file is a descriptor for as long as it is held.
pub const MIN_BYTES: usize = 64 * 1024;

/// A body being collected: in a memory file when it is large and one could be made.
pub struct Buffer(Inner);

enum Inner {
    Heap(BytesMut),
    File { file: File, len: usize },
}

impl Buffer {
    /// A buffer for a body of `len` bytes; its pages are taken now, so that writing it cannot
    /// run out of room half-way.
    pub fn with_capacity(len: usize) -> Buffer {
        Buffer(match memory_file(len) {
            Some(file) => Inner::File { file, len: 0 },
            None => Inner::Heap(BytesMut::with_capacity(len)),
        })
    }

    /// Appends `data`.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.0 {
            Inner::Heap(heap) => heap.extend_from_slice(data),
            Inner::File { file, len } => {
                file.write_all(data)?;
                *len += data.len();
            }
        }
        Ok(())
    }

    /// The bytes collected: a sealed, read-only mapped file, or heap memory.
    pub fn freeze(self) -> io::Result<Bytes> {
        match self.0 {
            Inner::Heap(heap) => Ok(heap.freeze()),
            Inner::File { len: 0, .. } => Ok(Bytes::new()),
            Inner::File { file, len } => Ok(Bytes::from_owner(Mapping::new(file, len)?)),
        }
    }
}

/// A fresh memory file with room for `len` bytes, or `None` below [`MIN_BYTES`] or when the
/// kernel will not make one.
fn memory_file(len: usize) -> Option<File> {
    if len < MIN_BYTES {
        return None;
    }
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    let fd = rustix::fs::memfd_create("acebox-segment", flags).ok()?;
    rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, len as u64).ok()?;
    // fallocate set the size; the writes start at 0 and the size is cut to what they wrote.
    Some(File::from(fd))
}

/// A sealed memory file mapped read-only; unmapped when the last [`Bytes`] of it goes.
struct Mapping {
    /// The mapping's address, kept as a number so the type is `Send` and `Sync` as it is:
    /// nothing ever writes through it.
    addr: usize,
    len: usize,
    file: Arc<File>,
}

impl Mapping {
    fn new(file: File, len: usize) -> io::Result<Mapping> {
        rustix::fs::ftruncate(&file, len as u64)?;
        let seals = SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL;
        rustix::fs::fcntl_add_seals(&file, seals)?;
        // SAFETY: a new mapping (no address asked for), read-only, of `len` bytes of a file
        // that is exactly that long and sealed: it can neither shrink (which would turn reads
        // into SIGBUS) nor change. Nothing else refers to the address until this returns.
        // A safe alternative would be to read the file back into heap memory, which is the
        // copy this module exists to avoid.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                &file,
                0,
            )?
        };
        let mapping = Mapping {
            addr: ptr as usize,
            len,
            file: Arc::new(file),
        };
        table().insert(mapping.addr, (len, mapping.file.clone()));
        Ok(mapping)
    }
}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `addr` is a live read-only mapping of `len` bytes (unmapped only in `drop`,
        // which needs `&mut self`), of a file sealed against writes and size changes, so the
        // bytes are initialised and never change while the slice is borrowed.
        unsafe { std::slice::from_raw_parts(self.addr as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        table().remove(&self.addr);
        // SAFETY: the mapping made in `new`, unmapped once; no slice of it outlives `self`
        // (every `Bytes` of it holds this owner).
        if let Err(e) = unsafe { rustix::mm::munmap(self.addr as *mut _, self.len) } {
            log::warn!("unmapping a segment failed: {e}");
        }
    }
}

/// Every live mapping: its address, with its length and its file.
type Table = BTreeMap<usize, (usize, Arc<File>)>;

fn table() -> MutexGuard<'static, Table> {
    static TABLE: Mutex<Table> = Mutex::new(BTreeMap::new());
    // Nothing under this lock can panic half-way through an update.
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The memory file that holds `bytes`, and where in it they start, if they lie in one.
/// `bytes` must be borrowed from a live [`Bytes`] (so its mapping cannot go meanwhile).
pub fn find(bytes: &[u8]) -> Option<(Arc<File>, u64)> {
    let start = bytes.as_ptr() as usize;
    let table = table();
    let (&addr, (len, file)) = table.range(..=start).next_back()?;
    let offset = start - addr;
    (offset + bytes.len() <= *len).then(|| (file.clone(), offset as u64))
}

/// What holding `bytes` costs: whole pages when they are a memory file of their own,
/// their length otherwise.
pub fn held(bytes: &Bytes) -> usize {
    let whole_file = find(bytes).is_some_and(|(_, offset)| offset == 0);
    if whole_file && !bytes.is_empty() {
        bytes.len().next_multiple_of(rustix::param::page_size())
    } else {
        bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(parts: &[&[u8]]) -> Bytes {
        let mut buffer = Buffer::with_capacity(parts.iter().map(|p| p.len()).sum());
        for part in parts {
            buffer.extend_from_slice(part).unwrap();
        }
        buffer.freeze().unwrap()
    }

    #[test]
    fn a_large_body_is_a_sealed_file_found_by_any_slice_of_it() {
        let data: Vec<u8> = (0..MIN_BYTES + 5000).map(|i| i as u8).collect();
        let bytes = collect(&[&data[..1000], &data[1000..]]);
        assert_eq!(bytes[..], data[..]);
        let (file, offset) = find(&bytes).expect("a memory file");
        assert_eq!(offset, 0);
        let page = rustix::param::page_size();
        assert_eq!(held(&bytes), data.len().next_multiple_of(page));
        let tail = bytes.slice(1234..);
        let (same, offset) = find(&tail).unwrap();
        assert!(Arc::ptr_eq(&file, &same));
        assert_eq!(offset, 1234);
        assert_eq!(held(&tail), tail.len(), "a slice is not the whole file");
        // Sealed: the file can be neither written nor resized.
        let mut writer: &File = &file;
        assert!(writer.write_all(b"x").is_err());
        assert!(rustix::fs::ftruncate(&*file, 1).is_err());
        // Let go of, it is gone from the table.
        let addr = bytes.as_ptr() as usize;
        drop((bytes, tail, file, same));
        assert!(!table().contains_key(&addr));
    }

    #[test]
    fn a_small_body_stays_in_heap_memory() {
        let bytes = collect(&[b"#EXTM3U\n", b"#EXT-X-VERSION:3\n"]);
        assert_eq!(&bytes[..], b"#EXTM3U\n#EXT-X-VERSION:3\n");
        assert!(find(&bytes).is_none());
        assert_eq!(held(&bytes), bytes.len());
        assert!(collect(&[]).is_empty());
    }
}
