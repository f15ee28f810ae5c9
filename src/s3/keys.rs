//! The S3 key layout, in one place: building the three sibling keys of an
//! upload, parsing a key back, and the guard that a key belongs to a patient.
//!
//! ```text
//! patients/{uid}/originals/{stem}.{ext}
//! patients/{uid}/optimized/docs/{docType}/{stem}-q{quality}-{maxW}w.{ext}
//! patients/{uid}/optimized/{notes|meds|tasks}/{refId}/{stem}-q{quality}-{maxW}w.{ext}
//! patients/{uid}/thumb/{stem}-thumb.jpg
//! stem = {ts}-{uuid}[-{label}]
//! ```
//! Keys carry no names or other PHI: only ids, a timestamp and a slug.

use std::fmt;

pub const ROOT: &str = "patients/";

/// Document folders under `optimized/docs/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocType {
    Preop,
    Lab,
    Radiology,
    Intraop,
    OtNotes,
    Postop,
    Discharge,
}

impl DocType {
    pub const ALL: [DocType; 7] = [
        DocType::Preop,
        DocType::Lab,
        DocType::Radiology,
        DocType::Intraop,
        DocType::OtNotes,
        DocType::Postop,
        DocType::Discharge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocType::Preop => "preop",
            DocType::Lab => "lab",
            DocType::Radiology => "radiology",
            DocType::Intraop => "intraop",
            DocType::OtNotes => "otnotes",
            DocType::Postop => "postop",
            DocType::Discharge => "discharge",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Which of the three sibling folders a key lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Optimized,
    Originals,
    Thumb,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Optimized => "optimized",
            Target::Originals => "originals",
            Target::Thumb => "thumb",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "optimized" => Some(Target::Optimized),
            "originals" | "original" => Some(Target::Originals),
            "thumb" | "thumbs" => Some(Target::Thumb),
            _ => None,
        }
    }
}

/// The clinical entity that owns an attachment folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityKind {
    Note,
    Med,
    Task,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Note => "note",
            EntityKind::Med => "med",
            EntityKind::Task => "task",
        }
    }

    /// Folder name under `optimized/`.
    pub fn folder(self) -> &'static str {
        match self {
            EntityKind::Note => "notes",
            EntityKind::Med => "meds",
            EntityKind::Task => "tasks",
        }
    }

    fn from_folder(s: &str) -> Option<Self> {
        match s {
            "notes" => Some(EntityKind::Note),
            "meds" => Some(EntityKind::Med),
            "tasks" => Some(EntityKind::Task),
            _ => None,
        }
    }
}

/// What an upload is attached to, which decides its optimized folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Doc(DocType),
    Entity(EntityKind, String),
}

impl Owner {
    pub fn kind(&self) -> &'static str {
        match self {
            Owner::Doc(_) => "doc",
            Owner::Entity(kind, _) => kind.as_str(),
        }
    }

    /// Folder path below `patients/{uid}/optimized/`, with a trailing slash.
    pub fn folder(&self) -> String {
        match self {
            Owner::Doc(doc_type) => format!("docs/{}/", doc_type.as_str()),
            Owner::Entity(kind, ref_id) => format!("{}/{ref_id}/", kind.folder()),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Outside `patients/{uid}/` (the contract's 403).
    OutsidePatient,
    /// Inside the prefix but malformed: `..`, empty segment, backslash, control char.
    Malformed(&'static str),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::OutsidePatient => f.write_str("key is outside this patient's files"),
            KeyError::Malformed(why) => write!(f, "key is not valid: {why}"),
        }
    }
}

/// A key "belongs to the patient" only if it starts with `patients/{uid}/` and
/// has no `..` segment, empty segment, backslash or control character.
/// S3's longest object key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

pub fn check_belongs(uid: &str, key: &str) -> Result<(), KeyError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::Malformed("longer than S3's 1024 bytes"));
    }
    if key.contains('\\') {
        return Err(KeyError::Malformed("backslash"));
    }
    if key.chars().any(char::is_control) {
        return Err(KeyError::Malformed("control character"));
    }
    let prefix = patient_prefix(uid);
    let rest = key.strip_prefix(&prefix).ok_or(KeyError::OutsidePatient)?;
    if rest.is_empty() {
        return Err(KeyError::Malformed("no object name"));
    }
    for seg in rest.split('/') {
        match seg {
            "" => return Err(KeyError::Malformed("empty segment")),
            "." | ".." => return Err(KeyError::Malformed("relative segment")),
            _ => {}
        }
    }
    Ok(())
}

/// Whether `key` belongs to the patient (else the guard's error) and lies in
/// `owner`'s folder under `optimized/`, where attach targets must be.
pub fn in_owner_folder(uid: &str, key: &str, owner: &Owner) -> Result<bool, KeyError> {
    check_belongs(uid, key)?;
    let folder = format!("{}optimized/{}", patient_prefix(uid), owner.folder());
    Ok(key.starts_with(&folder))
}

/// Entity ids (notes, meds, tasks) become a folder name: keep them to safe
/// id characters.
pub fn valid_ref_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn patient_prefix(uid: &str) -> String {
    format!("{ROOT}{uid}/")
}

/// Lowercase a-z0-9._- slug of at most 32 characters; `None` when nothing is left.
pub fn slug(label: &str) -> Option<String> {
    let mapped: String = label
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '_' => c,
            _ => '-',
        })
        .collect();
    // Runs of separators collapse; parts made only of dots (`..`) disappear.
    let joined = mapped
        .split('-')
        .map(|part| part.trim_matches('.'))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let mut out: String = joined.chars().take(32).collect();
    while out.ends_with('-') || out.ends_with('.') {
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

/// File extension for an accepted MIME type; `None` for anything else.
pub fn ext_for_mime(mime: &str) -> Option<&'static str> {
    match mime.trim().to_ascii_lowercase().as_str() {
        "image/avif" => Some("avif"),
        "image/webp" => Some("webp"),
        "image/jpeg" | "image/jpg" => Some("jpg"),
        "image/png" => Some("png"),
        "application/pdf" => Some("pdf"),
        _ => None,
    }
}

/// The canonical MIME type for an accepted one (`image/jpg` → `image/jpeg`).
pub fn canonical_mime(mime: &str) -> Option<&'static str> {
    ext_for_mime(mime).map(|ext| match ext {
        "avif" => "image/avif",
        "webp" => "image/webp",
        "jpg" => "image/jpeg",
        "png" => "image/png",
        _ => "application/pdf",
    })
}

/// The three sibling keys of one upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadKeys {
    pub optimized: String,
    pub original: String,
    pub thumb: String,
}

impl UploadKeys {
    pub fn for_target(&self, target: Target) -> &str {
        match target {
            Target::Optimized => &self.optimized,
            Target::Originals => &self.original,
            Target::Thumb => &self.thumb,
        }
    }
}

/// Builds the siblings of one upload from a shared stem.
pub fn upload_keys(
    uid: &str,
    owner: &Owner,
    stem: &str,
    quality: u32,
    max_w: u32,
    ext: &str,
) -> UploadKeys {
    let base = patient_prefix(uid);
    UploadKeys {
        optimized: format!(
            "{base}optimized/{}{stem}-q{quality}-{max_w}w.{ext}",
            owner.folder()
        ),
        original: format!("{base}originals/{stem}.{ext}"),
        thumb: format!("{base}thumb/{stem}-thumb.jpg"),
    }
}

/// `{ts}-{uuid}[-{label}]`.
pub fn stem(ts_millis: i64, id: &uuid::Uuid, label: Option<&str>) -> String {
    match label {
        Some(l) => format!("{ts_millis}-{id}-{l}"),
        None => format!("{ts_millis}-{id}"),
    }
}

/// What a key says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedKey {
    pub uid: String,
    pub target: Target,
    pub owner: Option<Owner>,
    pub filename: String,
    /// The shared stem, when the file name follows the layout.
    pub stem: Option<String>,
    pub ext: Option<String>,
}

/// Parses a key of the layout; `None` for anything else.
pub fn parse(key: &str) -> Option<ParsedKey> {
    let rest = key.strip_prefix(ROOT)?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let (uid, target, owner, filename) = match parts.as_slice() {
        [uid, "originals", file] => (*uid, Target::Originals, None, *file),
        [uid, "thumb", file] => (*uid, Target::Thumb, None, *file),
        [uid, "optimized", "docs", doc_type, file] => (
            *uid,
            Target::Optimized,
            Some(Owner::Doc(DocType::parse(doc_type)?)),
            *file,
        ),
        [uid, "optimized", folder, ref_id, file] => {
            let kind = EntityKind::from_folder(folder)?;
            (
                *uid,
                Target::Optimized,
                Some(Owner::Entity(kind, ref_id.to_string())),
                *file,
            )
        }
        _ => return None,
    };
    let (name, ext) = match filename.rsplit_once('.') {
        Some((n, e)) if !n.is_empty() => (n, Some(e.to_string())),
        _ => (filename, None),
    };
    let stem = match target {
        Target::Originals => Some(name.to_string()),
        Target::Thumb => name.strip_suffix("-thumb").map(str::to_string),
        Target::Optimized => strip_size_suffix(name).map(str::to_string),
    }
    .filter(|s| is_stem(s));
    Some(ParsedKey {
        uid: uid.to_string(),
        target,
        owner,
        filename: filename.to_string(),
        stem,
        ext,
    })
}

/// Strips `-q{quality}-{maxW}w` from an optimized file name.
fn strip_size_suffix(name: &str) -> Option<&str> {
    let (head, size) = name.rsplit_once('-')?;
    let width = size.strip_suffix('w')?;
    if width.is_empty() || !width.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (stem, quality) = head.rsplit_once('-')?;
    let q = quality.strip_prefix('q')?;
    if q.is_empty() || !q.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(stem)
}

/// `{ts}-{uuid}[-{label}]` with a numeric ts and a well-formed UUID.
fn is_stem(s: &str) -> bool {
    let Some((ts, rest)) = s.split_once('-') else {
        return false;
    };
    if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) || rest.len() < 36 {
        return false;
    }
    let (id, label) = rest.split_at(36);
    uuid::Uuid::parse_str(id).is_ok() && (label.is_empty() || label.starts_with('-'))
}

/// The other two keys of an optimized upload (its original and thumbnail).
/// Empty for keys that are not optimized uploads of the layout.
pub fn siblings_of(key: &str) -> Vec<String> {
    let Some(parsed) = parse(key) else {
        return Vec::new();
    };
    let (Target::Optimized, Some(stem), Some(ext)) = (parsed.target, parsed.stem, parsed.ext)
    else {
        return Vec::new();
    };
    let base = patient_prefix(&parsed.uid);
    vec![
        format!("{base}originals/{stem}.{ext}"),
        format!("{base}thumb/{stem}-thumb.jpg"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0190f5c0-0000-7000-8000-000000000001";

    fn id() -> uuid::Uuid {
        uuid::Uuid::parse_str("0190f5c0-0000-7000-8000-0000000000aa").unwrap()
    }

    #[test]
    fn slug_keeps_only_safe_characters() {
        assert_eq!(
            slug("Chest X-Ray (PA view)").as_deref(),
            Some("chest-x-ray-pa-view")
        );
        assert_eq!(slug("  ../../etc/passwd ").as_deref(), Some("etc-passwd"));
        assert_eq!(slug("ÄÖÜ"), None);
        assert_eq!(slug("---"), None);
        assert_eq!(slug(&"a".repeat(50)).unwrap().len(), 32);
        assert_eq!(slug("report_v2.final").as_deref(), Some("report_v2.final"));
    }

    #[test]
    fn extension_follows_the_mime_type() {
        assert_eq!(ext_for_mime("image/jpeg"), Some("jpg"));
        assert_eq!(ext_for_mime("IMAGE/PNG"), Some("png"));
        assert_eq!(ext_for_mime("application/pdf"), Some("pdf"));
        assert_eq!(ext_for_mime("image/avif"), Some("avif"));
        assert_eq!(ext_for_mime("image/webp"), Some("webp"));
        assert_eq!(ext_for_mime("text/html"), None);
        assert_eq!(canonical_mime("image/jpg"), Some("image/jpeg"));
    }

    #[test]
    fn siblings_share_one_stem() {
        // Given one upload of a lab report with a label
        let s = stem(1_700_000_000_000, &id(), Some("cbc"));
        let keys = upload_keys(UID, &Owner::Doc(DocType::Lab), &s, 80, 1600, "jpg");
        // Then the three keys follow the layout
        assert_eq!(
            keys.optimized,
            format!(
                "patients/{UID}/optimized/docs/lab/1700000000000-{}-cbc-q80-1600w.jpg",
                id()
            )
        );
        assert_eq!(
            keys.original,
            format!("patients/{UID}/originals/1700000000000-{}-cbc.jpg", id())
        );
        assert_eq!(
            keys.thumb,
            format!("patients/{UID}/thumb/1700000000000-{}-cbc-thumb.jpg", id())
        );
        // And the siblings of the optimized key are exactly the other two
        assert_eq!(
            siblings_of(&keys.optimized),
            vec![keys.original.clone(), keys.thumb.clone()]
        );
    }

    #[test]
    fn entity_uploads_live_under_their_own_folder() {
        let s = stem(1, &id(), None);
        let keys = upload_keys(
            UID,
            &Owner::Entity(EntityKind::Note, "n1".into()),
            &s,
            70,
            800,
            "pdf",
        );
        assert_eq!(
            keys.optimized,
            format!("patients/{UID}/optimized/notes/n1/1-{}-q70-800w.pdf", id())
        );
        let parsed = parse(&keys.optimized).unwrap();
        assert_eq!(
            parsed.owner,
            Some(Owner::Entity(EntityKind::Note, "n1".into()))
        );
        assert_eq!(parsed.stem.as_deref(), Some(s.as_str()));
    }

    #[test]
    fn parse_reads_back_what_was_built() {
        let s = stem(42, &id(), Some("x-q1-2w"));
        let keys = upload_keys(UID, &Owner::Doc(DocType::OtNotes), &s, 80, 1600, "png");
        let p = parse(&keys.optimized).unwrap();
        assert_eq!(p.uid, UID);
        assert_eq!(p.target, Target::Optimized);
        assert_eq!(p.owner, Some(Owner::Doc(DocType::OtNotes)));
        assert_eq!(p.stem.as_deref(), Some(s.as_str()));
        assert_eq!(
            parse(&keys.thumb).unwrap().stem.as_deref(),
            Some(s.as_str())
        );
        assert_eq!(parse(&keys.original).unwrap().target, Target::Originals);
        assert!(parse("patients/u/optimized/docs/unknown/a.jpg").is_none());
        assert!(parse("other/u/thumb/a.jpg").is_none());
        assert!(
            siblings_of(&format!("patients/{UID}/optimized/docs/lab/free-name.jpg")).is_empty()
        );
    }

    #[test]
    fn guard_accepts_only_clean_keys_under_the_patient() {
        let good = format!("patients/{UID}/optimized/docs/lab/a.jpg");
        assert_eq!(check_belongs(UID, &good), Ok(()));
        assert_eq!(
            check_belongs(UID, "patients/other/optimized/a.jpg"),
            Err(KeyError::OutsidePatient)
        );
        assert_eq!(
            check_belongs(UID, &format!("patients/{UID}extra/a.jpg")),
            Err(KeyError::OutsidePatient)
        );
        for bad in [
            format!("patients/{UID}/../other/a.jpg"),
            format!("patients/{UID}/optimized//a.jpg"),
            format!("patients/{UID}/optimized\\a.jpg"),
            format!("patients/{UID}/optimized/a\u{0}.jpg"),
            format!("patients/{UID}/optimized/a\n.jpg"),
            format!("patients/{UID}/"),
            format!("patients/{UID}/optimized/./a.jpg"),
        ] {
            assert!(
                matches!(check_belongs(UID, &bad), Err(KeyError::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}

#[cfg(test)]
mod properties {
    //! The key guard never accepts a key outside the patient's prefix, and
    //! the keys the service builds pass it.

    use proptest::prelude::*;

    use super as s3_keys;
    use crate::proptest_support::config;

    proptest! {
        #![proptest_config(config())]

    #[test]
        fn the_key_guard_keeps_keys_inside_the_patient(
            uid in "[a-z0-9-]{1,36}",
            other in "[a-z0-9-]{1,36}",
            tail in prop::collection::vec(
                prop_oneof![
                    Just("..".to_string()), Just(".".to_string()), Just(String::new()),
                    Just("%2e%2e".to_string()), Just("a\\b".to_string()), ".{0,12}",
                ],
                0..5,
            ),
            raw in any::<String>(),
        ) {
            let prefix = s3_keys::patient_prefix(&uid);
            for owner in [&uid, &other] {
                let key = format!("{}{}", s3_keys::patient_prefix(owner), tail.join("/"));
                for candidate in [key.as_str(), raw.as_str()] {
                    let _ = s3_keys::parse(candidate);
                    if s3_keys::check_belongs(&uid, candidate).is_ok() {
                        let rest = candidate.strip_prefix(&prefix);
                        prop_assert!(rest.is_some(), "accepted outside the prefix: {candidate:?}");
                        let rest = rest.unwrap_or_default();
                        prop_assert!(rest.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
                        prop_assert!(!candidate.contains('\\'));
                        prop_assert!(!candidate.chars().any(char::is_control));
                    }
                }
            }
        }

        #[test]
        fn keys_the_service_builds_pass_its_own_guard(
            uid in "[a-z0-9-]{1,36}",
            label in ".{0,40}",
            ref_id in "[A-Za-z0-9_-]{1,64}",
            millis in 0i64..4_102_444_800_000,
        ) {
            // Labels reach the key only through the slug, as in presign-upload.
            let slug = s3_keys::slug(&label);
            let stem = s3_keys::stem(millis, &uuid::Uuid::new_v4(), slug.as_deref());
            let owner = s3_keys::Owner::Entity(s3_keys::EntityKind::Note, ref_id);
            let keys = s3_keys::upload_keys(&uid, &owner, &stem, 80, 1600, "jpg");
            for key in [&keys.optimized, &keys.original, &keys.thumb] {
                prop_assert!(s3_keys::check_belongs(&uid, key).is_ok(), "{key}");
                prop_assert!(s3_keys::parse(key).is_some(), "{key}");
            }
        }
    }
}
