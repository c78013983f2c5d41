//! A fresh directory for one test under the system's temporary directory,
//! named after the test and the process, removed when dropped.

use std::path::PathBuf;

/// A test's own directory, removed on drop.
#[derive(Debug)]
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `hanse-<label>-<pid>` in the temporary directory, emptied first.
    pub fn new(label: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("hanse-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the test directory");
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
