//! Buckets and objects on disk, with an in-memory sorted index per bucket.
//!
//! Layout under the data directory:
//!
//! ```text
//! DIR/.tmp/                          temporary files (emptied at start)
//! DIR/<bucket>/bucket.json           {"name", "created"}
//! DIR/<bucket>/cors.json             the bucket's CORS rules, when set
//! DIR/<bucket>/objects/<H>.data      object bytes
//! DIR/<bucket>/objects/<H>.json      sidecar: key, size, ETag, content type, metadata, ...
//! ```
//!
//! `H` is the hex SHA-256 of the key, so every key S3 allows (up to 1024 bytes)
//! gets a 64-character file name. Every file is written to `.tmp` first and
//! renamed into place. The sidecar is what makes an object exist: at start the
//! index is rebuilt from the sidecars.

use crate::cors::CorsRule;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// What is kept about one object (the JSON sidecar).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// Quoted hex MD5 of the body, as S3 sends it in the `ETag` header.
    pub etag: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// User metadata (`x-amz-meta-*`), names lower-case without the prefix.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl ObjectMeta {
    /// The ETag without its quotes (as in event documents).
    pub fn etag_hex(&self) -> &str {
        self.etag.trim_matches('"')
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct BucketFile {
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
}

#[derive(Debug)]
pub enum StoreError {
    NoSuchBucket,
    NoSuchKey,
    BucketExists,
    BucketNotEmpty,
    PreconditionFailed,
    Io(io::Error),
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        StoreError::Io(e)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A condition a write must meet, checked atomically with the write.
#[derive(Debug, Clone, PartialEq)]
pub enum Precondition {
    None,
    /// `If-None-Match: *`: only if the key does not exist.
    Absent,
    /// `If-Match: "etag"`: only if the key exists with this ETag (quoted).
    EtagIs(String),
}

struct Bucket {
    created: OffsetDateTime,
    objects: BTreeMap<String, Arc<ObjectMeta>>,
    cors: Option<Vec<CorsRule>>,
}

struct State {
    buckets: BTreeMap<String, Bucket>,
    /// Increases with every committed write; notifications carry it as their sequencer.
    sequence: u64,
}

pub struct Store {
    root: PathBuf,
    tmp: PathBuf,
    state: RwLock<State>,
    tmp_counter: AtomicU64,
}

/// A ListObjectsV2 query over one bucket's index.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// List keys strictly after this one (StartAfter or a continuation token).
    pub after: Option<String>,
    pub max_keys: usize,
}

#[derive(Debug, Default, PartialEq)]
pub struct ListPage {
    pub objects: Vec<Arc<ObjectMeta>>,
    pub common_prefixes: Vec<String>,
    /// The last key or common prefix returned, when more follow.
    pub next_after: Option<String>,
}

impl ListPage {
    pub fn is_truncated(&self) -> bool {
        self.next_after.is_some()
    }
}

/// The file name stem of a key: hex SHA-256.
pub fn key_file_stem(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Writes `bytes` to `path` through a temporary file in `tmp` and a rename.
fn write_atomic(tmp: &Path, counter: &AtomicU64, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let t = temp_path(tmp, counter);
    fs::write(&t, bytes)?;
    fs::rename(&t, path).inspect_err(|_| {
        let _ = fs::remove_file(&t);
    })
}

fn temp_path(tmp: &Path, counter: &AtomicU64) -> PathBuf {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    tmp.join(format!("{}-{n}.tmp", std::process::id()))
}

pub fn now_millis() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    // S3 timestamps have millisecond precision; HTTP dates have seconds.
    now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(now)
}

impl Store {
    /// Opens (or creates) the data directory and rebuilds the index from it.
    pub fn open(root: &Path) -> io::Result<Store> {
        fs::create_dir_all(root)?;
        let tmp = root.join(".tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        let mut buckets = BTreeMap::new();
        for entry in fs::read_dir(root)? {
            let entry = entry?;
            let dir = entry.path();
            let Ok(bucket_file) = fs::read(dir.join("bucket.json")) else {
                continue;
            };
            let info: BucketFile =
                serde_json::from_slice(&bucket_file).map_err(io::Error::other)?;
            let cors = match fs::read(dir.join("cors.json")) {
                Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(io::Error::other)?),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            let mut objects = BTreeMap::new();
            let objects_dir = dir.join("objects");
            fs::create_dir_all(&objects_dir)?;
            for file in fs::read_dir(&objects_dir)? {
                let path = file?.path();
                if path.extension().is_some_and(|e| e == "json") {
                    let meta: ObjectMeta =
                        serde_json::from_slice(&fs::read(&path)?).map_err(io::Error::other)?;
                    objects.insert(meta.key.clone(), Arc::new(meta));
                }
            }
            buckets.insert(
                info.name,
                Bucket {
                    created: info.created,
                    objects,
                    cors,
                },
            );
        }
        let start =
            u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000).unwrap_or(0);
        Ok(Store {
            root: root.to_path_buf(),
            tmp,
            state: RwLock::new(State {
                buckets,
                sequence: start,
            }),
            tmp_counter: AtomicU64::new(0),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    fn object_path(&self, bucket: &str, key: &str, ext: &str) -> PathBuf {
        self.bucket_dir(bucket)
            .join("objects")
            .join(format!("{}.{ext}", key_file_stem(key)))
    }

    pub fn create_bucket(&self, name: &str) -> StoreResult<()> {
        let mut state = self.write();
        if state.buckets.contains_key(name) {
            return Err(StoreError::BucketExists);
        }
        let dir = self.bucket_dir(name);
        fs::create_dir_all(dir.join("objects"))?;
        let created = now_millis();
        let info = BucketFile {
            name: name.to_owned(),
            created,
        };
        let bytes = serde_json::to_vec_pretty(&info).map_err(io::Error::other)?;
        write_atomic(
            &self.tmp,
            &self.tmp_counter,
            &dir.join("bucket.json"),
            &bytes,
        )?;
        state.buckets.insert(
            name.to_owned(),
            Bucket {
                created,
                objects: BTreeMap::new(),
                cors: None,
            },
        );
        Ok(())
    }

    pub fn delete_bucket(&self, name: &str) -> StoreResult<()> {
        let mut state = self.write();
        let bucket = state.buckets.get(name).ok_or(StoreError::NoSuchBucket)?;
        if !bucket.objects.is_empty() {
            return Err(StoreError::BucketNotEmpty);
        }
        fs::remove_dir_all(self.bucket_dir(name))?;
        state.buckets.remove(name);
        Ok(())
    }

    pub fn bucket_exists(&self, name: &str) -> bool {
        self.read().buckets.contains_key(name)
    }

    pub fn list_buckets(&self) -> Vec<(String, OffsetDateTime)> {
        self.read()
            .buckets
            .iter()
            .map(|(name, b)| (name.clone(), b.created))
            .collect()
    }

    /// A new empty temporary file to stream a body into before [`Store::commit_object`].
    pub fn temp_file(&self) -> PathBuf {
        temp_path(&self.tmp, &self.tmp_counter)
    }

    /// Moves the body at `temp` into place as `meta.key` and records it, if
    /// `pre` holds. `on_commit` runs under the store's lock with the write's
    /// sequence number, so whatever it queues is queued in commit order.
    pub fn commit_object(
        &self,
        bucket: &str,
        meta: ObjectMeta,
        temp: &Path,
        pre: &Precondition,
        on_commit: impl FnOnce(&ObjectMeta, u64),
    ) -> StoreResult<Arc<ObjectMeta>> {
        let result = self.commit_locked(bucket, meta, temp, pre, on_commit);
        if result.is_err() {
            let _ = fs::remove_file(temp);
        }
        result
    }

    fn commit_locked(
        &self,
        bucket: &str,
        meta: ObjectMeta,
        temp: &Path,
        pre: &Precondition,
        on_commit: impl FnOnce(&ObjectMeta, u64),
    ) -> StoreResult<Arc<ObjectMeta>> {
        let mut state = self.write();
        let existing = state
            .buckets
            .get(bucket)
            .ok_or(StoreError::NoSuchBucket)?
            .objects
            .get(&meta.key);
        match (pre, existing) {
            (Precondition::Absent, Some(_)) => return Err(StoreError::PreconditionFailed),
            (Precondition::EtagIs(_), None) => return Err(StoreError::NoSuchKey),
            (Precondition::EtagIs(etag), Some(old)) if *etag != old.etag => {
                return Err(StoreError::PreconditionFailed)
            }
            _ => {}
        }
        let sidecar = serde_json::to_vec_pretty(&meta).map_err(io::Error::other)?;
        fs::rename(temp, self.object_path(bucket, &meta.key, "data"))?;
        write_atomic(
            &self.tmp,
            &self.tmp_counter,
            &self.object_path(bucket, &meta.key, "json"),
            &sidecar,
        )?;
        state.sequence += 1;
        let sequence = state.sequence;
        let meta = Arc::new(meta);
        if let Some(b) = state.buckets.get_mut(bucket) {
            b.objects.insert(meta.key.clone(), meta.clone());
        }
        on_commit(&meta, sequence);
        Ok(meta)
    }

    pub fn head_object(&self, bucket: &str, key: &str) -> StoreResult<Arc<ObjectMeta>> {
        let state = self.read();
        let b = state.buckets.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        b.objects.get(key).cloned().ok_or(StoreError::NoSuchKey)
    }

    /// The object's metadata and its open data file (opened under the lock,
    /// so the two belong to the same version even if a write follows).
    pub fn open_object(&self, bucket: &str, key: &str) -> StoreResult<(Arc<ObjectMeta>, fs::File)> {
        let state = self.read();
        let b = state.buckets.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        let meta = b.objects.get(key).cloned().ok_or(StoreError::NoSuchKey)?;
        let file = fs::File::open(self.object_path(bucket, key, "data"))?;
        Ok((meta, file))
    }

    /// Deletes a key; a missing key is not an error (as in S3).
    pub fn delete_object(&self, bucket: &str, key: &str) -> StoreResult<()> {
        let mut state = self.write();
        let b = state
            .buckets
            .get_mut(bucket)
            .ok_or(StoreError::NoSuchBucket)?;
        if b.objects.remove(key).is_some() {
            // The sidecar first: without it the object no longer exists.
            for ext in ["json", "data"] {
                match fs::remove_file(self.object_path(bucket, key, ext)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    pub fn list(&self, bucket: &str, q: &ListQuery) -> StoreResult<ListPage> {
        let state = self.read();
        let b = state.buckets.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        Ok(list_page(&b.objects, q))
    }

    pub fn cors(&self, bucket: &str) -> StoreResult<Option<Vec<CorsRule>>> {
        let state = self.read();
        let b = state.buckets.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        Ok(b.cors.clone())
    }

    pub fn set_cors(&self, bucket: &str, rules: Option<Vec<CorsRule>>) -> StoreResult<()> {
        let mut state = self.write();
        let b = state
            .buckets
            .get_mut(bucket)
            .ok_or(StoreError::NoSuchBucket)?;
        let path = self.bucket_dir(bucket).join("cors.json");
        match &rules {
            Some(rules) => {
                let bytes = serde_json::to_vec_pretty(rules).map_err(io::Error::other)?;
                write_atomic(&self.tmp, &self.tmp_counter, &path, &bytes)?;
            }
            None => match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            },
        }
        b.cors = rules;
        Ok(())
    }
}

/// One page of a listing, in key order: keys under `q.prefix` after
/// `q.after`, with keys that share a segment up to the delimiter rolled into
/// one common prefix. Objects and common prefixes both count toward `max_keys`.
pub fn list_page(objects: &BTreeMap<String, Arc<ObjectMeta>>, q: &ListQuery) -> ListPage {
    use std::ops::Bound;

    let prefix = q.prefix.as_str();
    let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
    let common_prefix_of = |key: &str| -> Option<String> {
        let d = delimiter?;
        let rest = key.strip_prefix(prefix)?;
        rest.find(d)
            .map(|i| format!("{prefix}{}", &rest[..i + d.len()]))
    };

    let lower = match q.after.as_deref() {
        Some(after) if after >= prefix => Bound::Excluded(after.to_owned()),
        _ => Bound::Included(prefix.to_owned()),
    };
    // Resuming after a common prefix skips every key under it.
    let mut last_prefix: Option<String> = q
        .after
        .as_deref()
        .and_then(|a| common_prefix_of(a).filter(|cp| cp == a));

    let mut page = ListPage::default();
    let mut count = 0usize;
    let mut last_item: Option<String> = None;
    for (key, meta) in objects.range::<String, _>((lower, Bound::Unbounded)) {
        if !key.starts_with(prefix) {
            break;
        }
        let cp = common_prefix_of(key);
        if let (Some(cp), Some(last)) = (&cp, &last_prefix) {
            if cp == last {
                continue;
            }
        }
        if count == q.max_keys {
            // Something more would be listed: the page is truncated.
            page.next_after = last_item;
            break;
        }
        count += 1;
        match cp {
            Some(cp) => {
                last_item = Some(cp.clone());
                page.common_prefixes.push(cp.clone());
                last_prefix = Some(cp);
            }
            None => {
                last_item = Some(key.clone());
                page.objects.push(meta.clone());
            }
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn temp_dir(name: &str) -> PathBuf {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        let dir = std::env::temp_dir().join(format!(
            "hms-local-s3-{name}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn meta(key: &str, size: u64) -> ObjectMeta {
        ObjectMeta {
            key: key.to_owned(),
            size,
            etag: "\"00\"".to_owned(),
            last_modified: now_millis(),
            content_type: "text/plain".to_owned(),
            cache_control: None,
            content_disposition: None,
            content_encoding: None,
            content_language: None,
            metadata: BTreeMap::from([("patient-uid".to_owned(), "u1".to_owned())]),
        }
    }

    fn put(
        store: &Store,
        bucket: &str,
        key: &str,
        body: &[u8],
        pre: &Precondition,
    ) -> StoreResult<u64> {
        let temp = store.temp_file();
        fs::write(&temp, body).unwrap();
        let mut seq = 0;
        store.commit_object(bucket, meta(key, body.len() as u64), &temp, pre, |_, s| {
            seq = s
        })?;
        Ok(seq)
    }

    #[test]
    fn round_trip_with_a_1024_byte_key_survives_a_restart() {
        // Given a store with a bucket and an object whose key is 1024 bytes
        let dir = temp_dir("store");
        let key = format!("patients/{}", "k".repeat(1024 - "patients/".len()));
        assert_eq!(key.len(), 1024);
        {
            let store = Store::open(&dir).unwrap();
            store.create_bucket("b1").unwrap();
            let s1 = put(&store, "b1", &key, b"hello", &Precondition::None).unwrap();
            let s2 = put(&store, "b1", "other", b"x", &Precondition::None).unwrap();
            assert!(s2 > s1, "sequence numbers increase");
            // Then a conditional write on the existing key fails, one on a new key works
            assert!(matches!(
                put(&store, "b1", &key, b"again", &Precondition::Absent),
                Err(StoreError::PreconditionFailed)
            ));
            assert!(matches!(
                put(
                    &store,
                    "b1",
                    "missing",
                    b"x",
                    &Precondition::EtagIs("\"00\"".into())
                ),
                Err(StoreError::NoSuchKey)
            ));
            store
                .set_cors(
                    "b1",
                    Some(vec![CorsRule {
                        allowed_origins: vec!["*".into()],
                        allowed_methods: vec!["GET".into()],
                        ..CorsRule::default()
                    }]),
                )
                .unwrap();
        }
        // When the store is opened again
        let store = Store::open(&dir).unwrap();
        // Then the object, its body and the CORS rules are back
        let (m, mut file) = store.open_object("b1", &key).unwrap();
        assert_eq!(m.key, key);
        assert_eq!(m.size, 5);
        assert_eq!(
            m.metadata.get("patient-uid").map(String::as_str),
            Some("u1")
        );
        let mut body = String::new();
        io::Read::read_to_string(&mut file, &mut body).unwrap();
        assert_eq!(body, "hello");
        assert_eq!(store.cors("b1").unwrap().unwrap().len(), 1);
        // And a delete removes it (twice is fine)
        store.delete_object("b1", &key).unwrap();
        store.delete_object("b1", &key).unwrap();
        assert!(matches!(
            store.head_object("b1", &key),
            Err(StoreError::NoSuchKey)
        ));
        let page = store
            .list(
                "b1",
                &ListQuery {
                    max_keys: 1000,
                    ..ListQuery::default()
                },
            )
            .unwrap();
        assert_eq!(page.objects.len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    fn index(keys: &[&str]) -> BTreeMap<String, Arc<ObjectMeta>> {
        keys.iter()
            .map(|k| (k.to_string(), Arc::new(meta(k, 1))))
            .collect()
    }

    fn names(page: &ListPage) -> Vec<String> {
        page.objects.iter().map(|m| m.key.clone()).collect()
    }

    #[test]
    fn listing_pages_through_keys_and_common_prefixes() {
        let objects = index(&["a/1", "a/2", "b", "c/x/1", "c/y", "d"]);
        // Prefix and start-after
        let q = ListQuery {
            prefix: "a/".into(),
            max_keys: 1000,
            ..ListQuery::default()
        };
        assert_eq!(names(&list_page(&objects, &q)), ["a/1", "a/2"]);
        let q = ListQuery {
            after: Some("a/2".into()),
            max_keys: 1000,
            ..ListQuery::default()
        };
        assert_eq!(names(&list_page(&objects, &q)), ["b", "c/x/1", "c/y", "d"]);

        // Delimiter, two entries a page
        let mut q = ListQuery {
            delimiter: Some("/".into()),
            max_keys: 2,
            ..ListQuery::default()
        };
        let p1 = list_page(&objects, &q);
        assert_eq!(p1.common_prefixes, ["a/"]);
        assert_eq!(names(&p1), ["b"]);
        assert_eq!(p1.next_after.as_deref(), Some("b"));
        q.after = p1.next_after.clone();
        let p2 = list_page(&objects, &q);
        assert_eq!(p2.common_prefixes, ["c/"]);
        assert_eq!(names(&p2), ["d"]);
        assert!(!p2.is_truncated());

        // Resuming right after a common prefix skips the keys under it
        q.after = Some("a/".into());
        q.max_keys = 1;
        let p = list_page(&objects, &q);
        assert_eq!(names(&p), ["b"]);
        assert!(p.is_truncated());

        // A delimiter under a prefix
        let q = ListQuery {
            prefix: "c/".into(),
            delimiter: Some("/".into()),
            max_keys: 1000,
            ..ListQuery::default()
        };
        let p = list_page(&objects, &q);
        assert_eq!(p.common_prefixes, ["c/x/"]);
        assert_eq!(names(&p), ["c/y"]);

        // A full page with nothing after it is not truncated
        let q = ListQuery {
            prefix: "a/".into(),
            max_keys: 2,
            ..ListQuery::default()
        };
        assert!(!list_page(&objects, &q).is_truncated());
    }
}
