//! A cross-process lock around token refreshes.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Held while one process refreshes; released on drop (the OS also
/// releases it if the process dies).
#[derive(Debug)]
pub struct RefreshLock {
    _file: File,
}

impl RefreshLock {
    /// Waits for the exclusive lock on `{dir}/refresh.lock`.
    pub async fn acquire(dir: &Path) -> Result<RefreshLock> {
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || -> Result<RefreshLock> {
            super::file::ensure_private_dir(&dir)?;
            let path = dir.join("refresh.lock");
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            file.lock()
                .with_context(|| format!("locking {}", path.display()))?;
            Ok(RefreshLock { _file: file })
        })
        .await
        .context("the lock task failed")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = RefreshLock::acquire(dir.path()).await.unwrap();
        let path = dir.path().to_owned();
        let second = tokio::spawn(async move { RefreshLock::acquire(&path).await.unwrap() });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!second.is_finished(), "blocked while the first holds it");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .unwrap()
            .unwrap();
        let _ = std::fs::metadata(dir.path().join("refresh.lock")).unwrap();
    }
}
