//! The page cache: fixed-size pages from a per-assembler free list, holding
//! out-of-order bytes (copied once) and bytes a stream kept with `keep_from`.
//!
//! A run of bytes is stored as a singly linked chain of pages ([`PageRun`]): the
//! first page may start at an offset, every other page starts at 0, and all pages
//! but the last are full. Pages return to the free list when released and are
//! reused; the cache never holds more than `max_pages` pages at once.
//!
//! Invariant: `in_use() + free.len() == allocated()` and `allocated() <= max_pages`.

/// Index of a page in the cache.
pub type PageId = u32;

const NIL: PageId = u32::MAX;

/// A run of bytes stored in a chain of pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRun {
    head: PageId,
    start: u32,
    len: u32,
    pages: u32,
}

impl PageRun {
    /// Bytes in the run.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the run holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pages the run holds.
    pub fn pages(&self) -> u32 {
        self.pages
    }
}

/// Fixed-size pages with a free list.
#[derive(Debug)]
pub struct PageCache {
    page_size: usize,
    max_pages: usize,
    pages: Vec<Box<[u8]>>,
    next: Vec<PageId>,
    free: Vec<PageId>,
    high_water: usize,
}

impl PageCache {
    /// A cache of pages of `page_size` bytes (at least 64), at most `max_pages` of them.
    pub fn new(page_size: usize, max_pages: usize) -> Self {
        PageCache {
            page_size: page_size.clamp(64, 1 << 24),
            max_pages,
            pages: Vec::new(),
            next: Vec::new(),
            free: Vec::new(),
            high_water: 0,
        }
    }

    /// Size of one page in bytes.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Pages currently holding data.
    pub fn in_use(&self) -> usize {
        self.pages.len() - self.free.len()
    }

    /// Pages ever allocated (in use or on the free list).
    pub fn allocated(&self) -> usize {
        self.pages.len()
    }

    /// Highest number of pages in use at once.
    pub fn high_water(&self) -> usize {
        self.high_water
    }

    /// Pages still available before the cap.
    pub fn available(&self) -> usize {
        self.max_pages.saturating_sub(self.in_use())
    }

    /// Pages needed to store `len` bytes.
    pub fn pages_for(&self, len: usize) -> usize {
        len.div_ceil(self.page_size)
    }

    fn alloc(&mut self) -> Option<PageId> {
        let id = if let Some(id) = self.free.pop() {
            id
        } else {
            if self.pages.len() >= self.max_pages {
                return None;
            }
            let id = PageId::try_from(self.pages.len()).ok()?;
            self.pages
                .push(vec![0u8; self.page_size].into_boxed_slice());
            self.next.push(NIL);
            id
        };
        self.next[id as usize] = NIL;
        self.high_water = self.high_water.max(self.in_use());
        Some(id)
    }

    /// Copy `data` into a new run; `None` (nothing allocated) when the cap does not
    /// leave enough pages.
    pub fn store(&mut self, data: &[u8]) -> Option<PageRun> {
        let needed = self.pages_for(data.len()).max(1);
        if self.available() < needed {
            return None;
        }
        let len = u32::try_from(data.len()).ok()?;
        let mut head = NIL;
        let mut prev = NIL;
        for piece in data
            .chunks(self.page_size)
            .chain(data.is_empty().then_some(&[][..]))
        {
            let id = self.alloc()?;
            self.pages[id as usize][..piece.len()].copy_from_slice(piece);
            if prev == NIL {
                head = id;
            } else {
                self.next[prev as usize] = id;
            }
            prev = id;
        }
        Some(PageRun {
            head,
            start: 0,
            len,
            pages: needed as u32,
        })
    }

    fn tail_of(&self, run: &PageRun) -> PageId {
        let mut id = run.head;
        while self.next[id as usize] != NIL {
            id = self.next[id as usize];
        }
        id
    }

    /// Append `data` to the end of `run`, allocating pages as needed. On failure
    /// (cap) the run is unchanged.
    pub fn append(&mut self, run: &mut PageRun, data: &[u8]) -> Option<()> {
        if data.is_empty() {
            return Some(());
        }
        let ps = self.page_size;
        let used_end = run.start as usize + run.len as usize;
        let room_in_tail = run.pages as usize * ps - used_end;
        let extra_pages = self.pages_for(data.len().saturating_sub(room_in_tail));
        if self.available() < extra_pages {
            return None;
        }
        let new_len = u32::try_from(run.len as usize + data.len()).ok()?;
        let mut tail = self.tail_of(run);
        let mut pos_in_tail = used_end - (run.pages as usize - 1) * ps;
        let mut rest = data;
        while !rest.is_empty() {
            if pos_in_tail == ps {
                let id = self.alloc()?;
                self.next[tail as usize] = id;
                tail = id;
                pos_in_tail = 0;
                run.pages += 1;
            }
            let n = rest.len().min(ps - pos_in_tail);
            self.pages[tail as usize][pos_in_tail..pos_in_tail + n].copy_from_slice(&rest[..n]);
            pos_in_tail += n;
            rest = &rest[n..];
        }
        run.len = new_len;
        Some(())
    }

    /// Return every page of `run` to the free list.
    pub fn release(&mut self, run: PageRun) {
        let mut id = run.head;
        let mut n = 0;
        while id != NIL && n < run.pages {
            let nx = self.next[id as usize];
            self.next[id as usize] = NIL;
            self.free.push(id);
            id = nx;
            n += 1;
        }
    }

    /// Drop the first `n` bytes of `run` (freeing pages that become empty).
    pub fn trim_front(&mut self, run: &mut PageRun, n: u32) {
        let n = n.min(run.len);
        let ps = self.page_size as u32;
        run.start += n;
        run.len -= n;
        while run.start >= ps && run.pages > 1 {
            let nx = self.next[run.head as usize];
            self.next[run.head as usize] = NIL;
            self.free.push(run.head);
            run.head = nx;
            run.start -= ps;
            run.pages -= 1;
        }
    }

    /// Keep only the first `len` bytes of `run` (freeing pages past them).
    pub fn truncate(&mut self, run: &mut PageRun, len: u32) {
        if len >= run.len {
            return;
        }
        run.len = len;
        let keep_pages =
            ((run.start as usize + len as usize).div_ceil(self.page_size)).max(1) as u32;
        if keep_pages >= run.pages {
            return;
        }
        let mut id = run.head;
        for _ in 1..keep_pages {
            id = self.next[id as usize];
        }
        let mut rest = self.next[id as usize];
        self.next[id as usize] = NIL;
        let mut freed = 0;
        while rest != NIL && freed < run.pages - keep_pages {
            let nx = self.next[rest as usize];
            self.next[rest as usize] = NIL;
            self.free.push(rest);
            rest = nx;
            freed += 1;
        }
        run.pages = keep_pages;
    }

    /// Copy bytes `[from, from+len)` of `run` into a new run.
    pub fn copy_range(&mut self, run: &PageRun, from: u32, len: u32) -> Option<PageRun> {
        let needed = self.pages_for(len as usize).max(1);
        if self.available() < needed {
            return None;
        }
        let mut out = self.store(&[])?;
        let mut tmp = [0u8; 256];
        let mut done = 0u32;
        while done < len {
            let n = (len - done).min(tmp.len() as u32);
            self.read_into(run, from + done, &mut tmp[..n as usize]);
            self.append(&mut out, &tmp[..n as usize])?;
            done += n;
        }
        Some(out)
    }

    /// Copy bytes starting at `from` of `run` into `out` (as many as fit and exist).
    pub fn read_into(&self, run: &PageRun, from: u32, out: &mut [u8]) -> usize {
        let mut written = 0;
        let mut skip = from as usize;
        for s in self.slices(run) {
            if skip >= s.len() {
                skip -= s.len();
                continue;
            }
            let s = &s[skip..];
            skip = 0;
            let n = s.len().min(out.len() - written);
            out[written..written + n].copy_from_slice(&s[..n]);
            written += n;
            if written == out.len() {
                break;
            }
        }
        written
    }

    /// The bytes of `run` as consecutive slices, one per page.
    pub fn slices<'a>(&'a self, run: &PageRun) -> PageSlices<'a> {
        PageSlices {
            cache: self,
            id: run.head,
            start: run.start as usize,
            left: run.len as usize,
        }
    }
}

/// Iterator over the page slices of a run.
#[derive(Debug)]
pub struct PageSlices<'a> {
    cache: &'a PageCache,
    id: PageId,
    start: usize,
    left: usize,
}

impl<'a> Iterator for PageSlices<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 || self.id == NIL {
            return None;
        }
        let page = &self.cache.pages[self.id as usize];
        let end = (self.start + self.left).min(page.len());
        let s = &page[self.start..end];
        self.left -= s.len();
        self.start = 0;
        self.id = self.cache.next[self.id as usize];
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes(c: &PageCache, r: &PageRun) -> Vec<u8> {
        c.slices(r).flatten().copied().collect()
    }

    #[test]
    fn store_append_trim_truncate() {
        let mut c = PageCache::new(64, 100);
        let data: Vec<u8> = (0..200u8).collect();
        let mut r = c.store(&data[..100]).unwrap();
        assert_eq!(r.pages(), 2);
        c.append(&mut r, &data[100..]).unwrap();
        assert_eq!(bytes(&c, &r), data);
        assert_eq!(r.pages(), 4);
        c.trim_front(&mut r, 70);
        assert_eq!(bytes(&c, &r), &data[70..]);
        assert_eq!(r.pages(), 3);
        c.truncate(&mut r, 10);
        assert_eq!(bytes(&c, &r), &data[70..80]);
        assert_eq!(r.pages(), 1);
        assert_eq!(c.in_use(), 1);
        c.release(r);
        assert_eq!(c.in_use(), 0);
        // freed pages are reused, not reallocated
        let r2 = c.store(&data).unwrap();
        assert_eq!(c.allocated(), 4);
        assert_eq!(bytes(&c, &r2), data);
    }

    #[test]
    fn cap_refuses_without_side_effects() {
        let mut c = PageCache::new(64, 2);
        assert!(c.store(&[1u8; 200]).is_none());
        assert_eq!(c.in_use(), 0);
        let mut r = c.store(&[1u8; 64]).unwrap();
        assert!(c.append(&mut r, &[2u8; 129]).is_none());
        assert_eq!(bytes(&c, &r), vec![1u8; 64]);
        assert_eq!(c.in_use(), 1);
    }

    #[test]
    fn copy_range_of_run() {
        let mut c = PageCache::new(64, 100);
        let data: Vec<u8> = (0..=255u8).collect();
        let mut r = c.store(&data).unwrap();
        c.trim_front(&mut r, 3);
        let x = c.copy_range(&r, 100, 90).unwrap();
        assert_eq!(bytes(&c, &x), &data[103..193]);
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((0u8..4, 0usize..300), 1..40)) {
            let mut c = PageCache::new(64, 1000);
            let mut r = c.store(&[]).unwrap();
            let mut m: Vec<u8> = Vec::new();
            let mut k = 0u8;
            for (op, n) in ops {
                match op {
                    0 | 1 => {
                        let add: Vec<u8> = (0..n).map(|_| { k = k.wrapping_add(1); k }).collect();
                        c.append(&mut r, &add).unwrap();
                        m.extend_from_slice(&add);
                    }
                    2 => {
                        let n = n.min(m.len());
                        c.trim_front(&mut r, n as u32);
                        m.drain(..n);
                    }
                    _ => {
                        let n = n.min(m.len());
                        c.truncate(&mut r, n as u32);
                        m.truncate(n);
                    }
                }
                prop_assert_eq!(bytes(&c, &r), m.clone());
                prop_assert_eq!(c.in_use(), r.pages() as usize);
            }
        }
    }
}
