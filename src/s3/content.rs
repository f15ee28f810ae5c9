//! What an upload's first bytes must be for its type: the signature every
//! file of that type starts with. An HTML page (or anything else) uploaded
//! as `image/jpeg` does not pass.

/// How many leading bytes are read to tell a type.
pub const SNIFF_BYTES: u64 = 16;

/// Whether `head` (the object's first bytes) starts like a `content_type`
/// file. Types the presign does not offer never match.
pub fn looks_like(content_type: &str, head: &[u8]) -> bool {
    let at = |range: std::ops::Range<usize>, sig: &[u8]| head.get(range) == Some(sig);
    match content_type.to_ascii_lowercase().as_str() {
        "image/jpeg" => head.starts_with(&[0xFF, 0xD8]),
        "image/png" => head.starts_with(b"\x89PNG"),
        "image/webp" => at(0..4, b"RIFF") && at(8..12, b"WEBP"),
        "image/avif" => at(4..8, b"ftyp") && (at(8..12, b"avif") || at(8..12, b"avis")),
        "application/pdf" => head.starts_with(b"%PDF-"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_is_told_by_its_signature() {
        assert!(looks_like("image/jpeg", b"\xff\xd8\xff\xe0JFIF"));
        assert!(looks_like("IMAGE/PNG", b"\x89PNG\r\n\x1a\n"));
        assert!(looks_like("image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 "));
        assert!(looks_like("image/avif", b"\x00\x00\x00\x1cftypavif"));
        assert!(looks_like("application/pdf", b"%PDF-1.7\n"));
        // An HTML page, or another type's bytes, under an image type
        assert!(!looks_like("image/jpeg", b"<!DOCTYPE html><h"));
        assert!(!looks_like("image/png", b"\xff\xd8\xff\xe0"));
        assert!(!looks_like("application/pdf", b""));
        assert!(!looks_like("text/html", b"<html>"));
    }
}
