//! `.sentinel-dev/env`: `export KEY=value` lines, written atomically (temporary file, then
//! rename) so a reader never sees half a file.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Quotes `value` for a POSIX shell unless it is made only of safe characters.
pub fn shell_quote(value: &str) -> String {
    let safe = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./:=,@+%".contains(&b));
    if safe {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// Renders `vars` as `export KEY=value` lines.
pub fn render(vars: &[(&str, String)]) -> String {
    vars.iter().map(|(k, v)| format!("export {k}={}\n", shell_quote(v))).collect()
}

/// Writes `contents` to `path` atomically.
pub fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    let dir = path.parent().context("the env file needs a parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("env")));
    let mut file = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_shell_metacharacters_are_single_quoted() {
        assert_eq!(shell_quote("http://127.0.0.1:8000"), "http://127.0.0.1:8000");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's $(rm -rf)"), r"'it'\''s $(rm -rf)'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn the_env_file_is_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("sentinel-env-{}", ulid::Ulid::new()));
        let path = dir.join("env");
        write_atomically(&path, &render(&[("A", "1".into())])).unwrap();
        write_atomically(&path, &render(&[("B", "two words".into())])).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "export B='two words'\n");
        assert!(!dir.join(".env.tmp").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
