//! The loader holds at most a few times a file's size in memory: the items of `groups:` are read
//! one at a time, never as a tree of the whole file. Measured as the peak of live heap bytes
//! (a counting allocator, so the number does not depend on the machine) while a 3 MB file of
//! 1,000 groups of 100 members is loaded. Its own test binary, so no other test allocates
//! meanwhile.

// A counting global allocator is `unsafe` by its trait: the only `unsafe` in the workspace.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use tallyfy_groups_core::desired::{Source, load};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the layout is passed on unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn loading_holds_at_most_a_few_times_the_file() {
    let base = LIVE.load(Ordering::Relaxed);
    let mut yaml = String::from("groups:\n");
    for g in 0..1_000 {
        yaml.push_str(&format!("  - name: Group {g:05}\n    description: Seeded group {g}.\n    members:\n"));
        for k in 0..100 {
            yaml.push_str(&format!("      - user{}@example.com\n", (g * 7919 + k * 104_729) % 100_000));
        }
    }
    yaml.shrink_to_fit();
    let size = yaml.len();
    let source = Source { name: "groups.yaml".into(), bytes: yaml.into_bytes() };
    // From here on, the peak counts the file's bytes and everything the loader adds to them.
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    let state = load(vec![source]).expect("valid");
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let kept = LIVE.load(Ordering::Relaxed) - base;
    assert_eq!(state.groups.len(), 1_000);
    assert_eq!(state.groups.iter().map(|g| g.members.as_ref().map_or(0, Vec::len)).sum::<usize>(), 100_000);
    // The file's bytes are part of the peak (they are read while the state is built); what is
    // kept afterwards is the validated state alone. The limit is on heap bytes; the process's
    // resident memory adds the allocator's overhead (docs/performance.md).
    let ratio = peak as f64 / size as f64;
    eprintln!("file {size} bytes; heap peak {peak} bytes ({ratio:.2}x); kept {kept} bytes");
    assert!(ratio <= 5.0, "loading a {size}-byte file peaked at {peak} heap bytes ({ratio:.2}x)");
}
