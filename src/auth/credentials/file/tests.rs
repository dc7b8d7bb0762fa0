use super::*;
use std::io::Write;

const SAMPLE: &str = "\
# principal mechanism user secret
alice SCRAM-SHA-512 alice-up s1
\"/CN=bob smith/O=Example\"  plain  bob  s2

carol OAUTHBEARER - tok.en.x
";

#[test]
fn parses_words_quoted_principals_and_comments() {
    let m = parse(SAMPLE).unwrap();
    assert_eq!(m.len(), 3);
    let alice = m.lookup("alice").unwrap();
    assert_eq!(alice.method, SaslMethod::ScramSha512);
    assert_eq!(alice.username, "alice-up");
    assert_eq!(alice.secret.expose(), "s1");
    let bob = m.lookup("/CN=bob smith/O=Example").unwrap();
    assert_eq!(bob.method, SaslMethod::Plain);
    let carol = m.lookup("carol").unwrap();
    assert_eq!(
        (carol.method, carol.username.as_str()),
        (SaslMethod::OAuthBearer, "")
    );
    assert_eq!(m.lookup("mallory"), Err(LookupError::Unmapped));
    // The lookup is exact: no case folding, no prefix.
    assert_eq!(m.lookup("Alice"), Err(LookupError::Unmapped));
}

#[test]
fn refuses_bad_lines_by_number_without_the_secret() {
    for (text, want) in [
        (
            "alice PLAIN alice",
            "line 1: expected PRINCIPAL MECHANISM USER SECRET",
        ),
        ("\n\nalice GSSAPI a s", "line 3: \"GSSAPI\": expected PLAIN"),
        (
            "alice PLAIN - hunter2",
            "line 1: PLAIN needs an upstream user",
        ),
        (
            "\"alice PLAIN a hunter2",
            "line 1: the principal's closing double quote",
        ),
        (
            "a PLAIN a s\na PLAIN b hunter2",
            "line 2: principal \"a\" is mapped twice",
        ),
        ("a PLAIN a file:", "line 1: file: without a path"),
        ("a PLAIN a hunter2 extra", "line 1: expected"),
    ] {
        let e = parse(text).unwrap_err();
        assert!(e.starts_with(want), "{text:?}: {e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}

#[test]
fn debug_never_shows_a_secret() {
    let m = parse(SAMPLE).unwrap();
    let shown = format!("{:?} {:?}", m, m.lookup("alice").unwrap());
    assert!(!shown.contains("s1"), "{shown}");
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kp-cred-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn secret_files_are_read_at_each_lookup() {
    let dir = temp_dir("secret");
    let secret = dir.join("alice.pass");
    std::fs::write(&secret, "first\n").unwrap();
    let m = parse(&format!("alice PLAIN alice file:{}", secret.display())).unwrap();
    assert_eq!(m.lookup("alice").unwrap().secret.expose(), "first");
    std::fs::write(&secret, "second\r\n").unwrap();
    assert_eq!(m.lookup("alice").unwrap().secret.expose(), "second");
    std::fs::remove_file(&secret).unwrap();
    let LookupError::Failed(why) = m.lookup("alice").unwrap_err() else {
        panic!("a missing secret file is a failure, not an unmapped principal");
    };
    assert!(why.contains("alice.pass"), "{why}");
}

#[test]
fn a_changed_file_is_used_and_a_broken_one_keeps_the_old_mapping() {
    let dir = temp_dir("reload");
    let path = dir.join("credentials");
    std::fs::write(&path, "alice PLAIN alice one\n").unwrap();
    let file = CredentialsFile::open(&path).unwrap();
    assert_eq!(file.lookup("alice").unwrap().secret.expose(), "one");

    std::fs::write(&path, "alice PLAIN alice two\nbob PLAIN bob b\n").unwrap();
    assert_eq!(file.lookup("alice").unwrap().secret.expose(), "two");
    assert!(file.lookup("bob").is_ok());

    // Broken: the previous mapping stays.
    std::fs::File::create(&path)
        .unwrap()
        .write_all(b"alice PLAIN\n")
        .unwrap();
    assert_eq!(file.lookup("alice").unwrap().secret.expose(), "two");
    // Gone: the same.
    std::fs::remove_file(&path).unwrap();
    assert!(file.lookup("bob").is_ok());
    // Back and fixed: used again.
    std::fs::write(&path, "carol PLAIN carol c\n").unwrap();
    assert_eq!(file.lookup("bob"), Err(LookupError::Unmapped));
    assert!(file.lookup("carol").is_ok());
}

#[test]
fn a_file_that_does_not_parse_at_startup_is_an_error() {
    let dir = temp_dir("startup");
    let path = dir.join("credentials");
    std::fs::write(&path, "alice PLAIN\n").unwrap();
    let e = CredentialsFile::open(&path).err().unwrap();
    assert!(e.contains("credentials: line 1"), "{e}");
    assert!(CredentialsFile::open(&dir.join("missing")).is_err());
}

#[test]
fn too_large_a_file_is_refused() {
    let dir = temp_dir("large");
    let path = dir.join("credentials");
    let line = "# padding padding padding padding padding padding padding padding\n";
    let text = line.repeat((MAX_FILE_SIZE as usize) / line.len() + 2);
    std::fs::write(&path, text).unwrap();
    let e = CredentialsFile::open(&path).err().unwrap();
    assert!(e.contains("larger than"), "{e}");
}
