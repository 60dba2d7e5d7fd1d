//! The opt-in token file: `credentials.json`, mode 0600, in a 0700 directory.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Credentials;

const FILE_NAME: &str = "credentials.json";

/// The file store: one JSON object, one entry per account.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
    account: String,
}

impl FileStore {
    /// The store in `dir` for `account`; nothing is touched yet.
    pub fn new(dir: PathBuf, account: String) -> FileStore {
        FileStore { dir, account }
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    fn read_all(&self) -> Result<BTreeMap<String, Credentials>> {
        let path = self.path();
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mode = fs::metadata(&path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "token file was readable by others; restricting it to 0600");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        }
        serde_json::from_slice(&text).with_context(|| format!("{} is not readable", path.display()))
    }

    /// The stored login.
    pub fn load(&self) -> Result<Option<Credentials>> {
        Ok(self.read_all()?.remove(&self.account))
    }

    /// Replaces the stored login, atomically.
    pub fn save(&self, credentials: &Credentials) -> Result<()> {
        let mut all = self.read_all()?;
        all.insert(self.account.clone(), credentials.clone());
        self.write_all(&all)
    }

    /// Deletes the stored login.
    pub fn delete(&self) -> Result<()> {
        let mut all = self.read_all()?;
        if all.remove(&self.account).is_none() {
            return Ok(());
        }
        if all.is_empty() {
            fs::remove_file(self.path()).context("deleting the token file")?;
            Ok(())
        } else {
            self.write_all(&all)
        }
    }

    /// # Security
    /// Temp file (created 0600 by `tempfile`) in the same directory, written,
    /// fsynced, renamed over the old file, then the directory fsynced: a crash
    /// leaves either the old or the new file, never a torn one, so a rotated
    /// refresh token is never lost.
    fn write_all(&self, all: &BTreeMap<String, Credentials>) -> Result<()> {
        ensure_private_dir(&self.dir)?;
        let bytes = serde_json::to_vec_pretty(all).context("encoding credentials")?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".credentials")
            .suffix(".tmp")
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(&self.dir)
            .context("creating a temporary token file")?;
        tmp.write_all(&bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.path())
            .map_err(|e| e.error)
            .context("replacing the token file")?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .context("syncing the config directory")?;
        Ok(())
    }
}

/// Creates `dir` if needed and makes it 0700.
pub(super) fn ensure_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {} to 0700", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use giponext_shared::{Scope, ScopeSet};

    fn creds(token: &str) -> Credentials {
        Credentials {
            issuer: "http://i".into(),
            client_id: "c".into(),
            access_token: Secret::new(token),
            refresh_token: Some(Secret::new("rt")),
            expires_at: chrono::Utc::now(),
            granted: ScopeSet::of(&[Scope::OpenId]),
            requested: ScopeSet::of(&[Scope::OpenId, Scope::Invoices]),
            user: None,
        }
    }

    #[test]
    fn saves_privately_and_atomically() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("giponext");
        let a = FileStore::new(dir.clone(), "a".into());
        let b = FileStore::new(dir.clone(), "b".into());
        assert!(a.load().unwrap().is_none());
        a.save(&creds("one")).unwrap();
        b.save(&creds("two")).unwrap();
        a.save(&creds("three")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&a.path()), 0o600);
        assert_eq!(a.load().unwrap().unwrap().access_token.expose(), "three");
        assert_eq!(b.load().unwrap().unwrap().access_token.expose(), "two");
        assert_eq!(
            a.load().unwrap().unwrap().declined(),
            ScopeSet::of(&[Scope::Invoices])
        );
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(FILE_NAME)]);
        a.delete().unwrap();
        assert!(a.load().unwrap().is_none());
        assert!(b.load().unwrap().is_some());
        b.delete().unwrap();
        assert!(!a.path().exists());
        b.delete().unwrap();
    }

    #[test]
    fn loose_permissions_are_tightened() {
        let root = tempfile::tempdir().unwrap();
        let store = FileStore::new(root.path().to_owned(), "a".into());
        store.save(&creds("x")).unwrap();
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(store.load().unwrap().is_some());
        assert_eq!(
            fs::metadata(store.path()).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
