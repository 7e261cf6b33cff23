//! What the Hub's JSON may say before any of it becomes a path or a byte count.
//!
//! `HF_ENDPOINT` can name any server, so the listing is a stranger's input: the commit and the
//! sha256 become folder and file names in the cache, and the file name becomes a path under the
//! snapshot. A commit must be 40 hex digits, a sha256 64, and a file name relative parts of
//! plain characters, so nothing the server says can reach outside the repository's folder.

/// Most bytes of the repository listing read: a GGUF repository's listing is a few KB, a
/// large repository's a few hundred.
pub(super) const MAX_LISTING_BYTES: usize = 4 << 20;

/// Whether `text` is exactly `len` hexadecimal digits.
fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A git commit id (40 hex digits), as a folder name; the reason it is refused otherwise.
pub(super) fn commit(sha: &str) -> Result<&str, String> {
    if is_hex(sha, 40) {
        Ok(sha)
    } else {
        Err(format!(
            "the Hub gave a commit that is not 40 hex digits: {:?}",
            clip(sha)
        ))
    }
}

/// A sha256 (64 hex digits), lowercased, as a blob name; the reason it is refused otherwise.
pub(super) fn sha256(sha: &str) -> Result<String, String> {
    if is_hex(sha, 64) {
        Ok(sha.to_ascii_lowercase())
    } else {
        Err(format!(
            "the Hub gave a sha256 that is not 64 hex digits: {:?}",
            clip(sha)
        ))
    }
}

/// A file's path in the repository: `/`-separated parts, none empty, `.` or `..`, without a
/// backslash, a colon or a control character, so that it stays under the snapshot folder on
/// every system; the reason it is refused otherwise.
pub(super) fn file_name(name: &str) -> Result<&str, String> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && !p.chars().any(|c| c == '\\' || c == ':' || c.is_control())
    };
    if name.len() <= 512 && name.split('/').all(part_ok) {
        Ok(name)
    } else {
        Err(format!(
            "the Hub listed an unsafe file name: {:?}",
            clip(name)
        ))
    }
}

/// The first characters of a hostile value, for an error line.
fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_and_checksums_are_hex_of_their_length() {
        let commit_id = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(commit(commit_id), Ok(commit_id));
        for bad in [
            "",
            "../../x",
            &commit_id[..39],
            &format!("{commit_id}0"),
            "g".repeat(40).as_str(),
        ] {
            assert!(commit(bad).is_err(), "{bad}");
        }
        let sum = "AB".repeat(32);
        assert_eq!(sha256(&sum), Ok("ab".repeat(32)));
        for bad in [
            "",
            "../../outside/x",
            &"a".repeat(63),
            &format!("{}/", "a".repeat(63)),
        ] {
            assert!(sha256(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_names_stay_inside_the_snapshot() {
        for good in ["model-Q4_K_M.gguf", "sub/dir/model.Q8_0.gguf", "a..b.gguf"] {
            assert_eq!(file_name(good), Ok(good));
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x.gguf",
            "a/../../x.gguf",
            "a//b.gguf",
            "./a.gguf",
            "a\\..\\b.gguf",
            "C:x.gguf",
            "a\nb.gguf",
            &"a".repeat(513),
        ] {
            assert!(file_name(bad).is_err(), "{bad:?}");
        }
    }
}
