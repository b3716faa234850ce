//! The chunk store survives a restart, evicts oldest-first at its bound, refuses bad names and
//! drops a chunk whose file was corrupted.

use bytes::Bytes;
use tollcast_media::store::{ChunkStore, sha256_hex};

#[test]
fn survives_restart_and_evicts_at_bound() {
    let dir = tempfile::tempdir().unwrap();
    let a = Bytes::from(vec![1u8; 400]);
    let b = Bytes::from(vec![2u8; 400]);
    let c = Bytes::from(vec![3u8; 400]);
    let (ha, hb, hc);
    {
        let s = ChunkStore::open(dir.path(), 1000).unwrap();
        ha = s.put(a.clone()).unwrap();
        hb = s.put(b.clone()).unwrap();
        assert_eq!(ha, sha256_hex(&a));
        assert_eq!(s.total_bytes(), 800);
    }
    // Reopen: both still there, byte for byte.
    let s = ChunkStore::open(dir.path(), 1000).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s.get(&ha).unwrap().unwrap(), a);
    assert_eq!(s.get(&hb).unwrap().unwrap(), b);
    // Touch a so b is the oldest; adding c must evict b only.
    assert!(s.touch(&ha).unwrap());
    hc = s.put(c.clone()).unwrap();
    assert!(s.total_bytes() <= 1000);
    assert!(!s.contains(&hb), "oldest chunk evicted");
    assert!(s.contains(&ha) && s.contains(&hc));
    assert!(
        !dir.path().join("blobs").join(&hb).exists(),
        "evicted file removed"
    );
    drop(s);
    // A smaller bound on reopen evicts down to it.
    let s = ChunkStore::open(dir.path(), 500).unwrap();
    assert_eq!(s.len(), 1);
    assert!(s.contains(&hc));
    // Too large for the bound.
    assert!(s.put(Bytes::from(vec![0u8; 600])).is_err());
}

#[test]
fn bad_names_and_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let s = ChunkStore::open(dir.path(), 10_000).unwrap();
    assert!(s.get("../etc/passwd").is_err());
    assert!(s.get(&"A".repeat(64)).is_err());
    assert!(s.get(&"0".repeat(64)).unwrap().is_none());
    let h = s.put(Bytes::from_static(b"hello chunk")).unwrap();
    drop(s);
    std::fs::write(dir.path().join("blobs").join(&h), b"tampered!!!").unwrap();
    // Leftover file unknown to the index is cleaned on open.
    std::fs::write(dir.path().join("blobs").join(".tmp-x"), b"junk").unwrap();
    let s = ChunkStore::open(dir.path(), 10_000).unwrap();
    assert!(!dir.path().join("blobs").join(".tmp-x").exists());
    assert!(s.get(&h).unwrap().is_none(), "corrupt chunk is not served");
    assert!(!s.contains(&h));
}

#[test]
fn non_durable_parts_persist_with_the_next_durable_put() {
    let dir = tempfile::tempdir().unwrap();
    let (p1, p2, seg);
    {
        let s = ChunkStore::open(dir.path(), 1_000_000).unwrap();
        p1 = s.put_with(Bytes::from_static(b"part one"), false).unwrap();
        p2 = s.put_with(Bytes::from_static(b"part two"), false).unwrap();
        seg = s.put(Bytes::from_static(b"part onepart two")).unwrap();
        assert_eq!(
            s.get(&p1).unwrap().unwrap(),
            Bytes::from_static(b"part one")
        );
    }
    let s = ChunkStore::open(dir.path(), 1_000_000).unwrap();
    for h in [&p1, &p2, &seg] {
        assert!(s.get(h).unwrap().is_some(), "{h} survived the restart");
    }
}
